complete -c oidc-token -s t -l time -d 'Minimum number of seconds the token must still be valid' -r
complete -c oidc-token -s s -l scope -d 'Scope for a down-scoped token (repeatable or space-separated)' -r
complete -c oidc-token -l aud -l audience -d 'Audience(s) of the token (repeatable or space-separated)' -r
complete -c oidc-token -s o -l token -d 'Print the access token; with VAR, as `VAR=...; export VAR;`' -r
complete -c oidc-token -s i -l issuer -d 'Print the issuer; with VAR, as `VAR=...; export VAR;`' -r
complete -c oidc-token -s e -l expires-at -d 'Print the expiry (Unix time); with VAR, as `VAR=...; export VAR;`' -r
complete -c oidc-token -l name -d 'Name of the application asking, for the agent\'s log' -r
complete -c oidc-token -s f -l force-new -d 'Always get a new token, bypassing the agent\'s cache'
complete -c oidc-token -s a -l all -d 'Print token, issuer and expiry, one per line'
complete -c oidc-token -s c -l env -d 'Print shell code that sets OIDC_AT, OIDC_ISS and OIDC_EXP (or the names -o, -i, -e VAR give)'
complete -c oidc-token -l bearer -d 'Print `Bearer <token>`'
complete -c oidc-token -l auth-header -l auth -d 'Print `Authorization: Bearer <token>` without a newline'
complete -c oidc-token -l id-token -d 'Print the ID token instead of an access token'
complete -c oidc-token -l no-autoload -d 'Fail (exit 4) instead of loading a configured account that is not loaded'
complete -c oidc-token -l json -d 'Print one JSON object: access_token, token_type, expires_at, issuer, account, scope'
complete -c oidc-token -l kube -l exec-credential -d 'Print a kubectl ExecCredential (exec credential plugin; reads KUBERNETES_EXEC_INFO)'
complete -c oidc-token -l rejected -d 'The server refused the last token: drop the agent\'s cached token, then print a new one'
complete -c oidc-token -s h -l help -d 'Print help'
complete -c oidc-token -s V -l version -d 'Print version'
# Account names (oidc-agent-rs)
complete -c oidc-token -f -n 'not string match -q -- "-*" (commandline -ct)' -a '(oidc-add -l 2>/dev/null; oidc-add --list-issuers 2>/dev/null)' -d 'account'
