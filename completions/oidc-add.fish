complete -c oidc-add -s t -l lifetime -d 'Unload the account after SECONDS (0: never)' -r
complete -c oidc-add -l token-file -d 'Keep a WLCG bearer-token file with a fresh access token of the account [default: $BEARER_TOKEN_FILE, else $XDG_RUNTIME_DIR/bt_u$UID, else /tmp/bt_u$UID]' -r
complete -c oidc-add -l pw-env -d 'Read the password from the environment variable VAR [default: OIDC_ENCRYPTION_PW]' -r
complete -c oidc-add -l pw-file -d 'Read the password from the first line of FILE' -r -F
complete -c oidc-add -l pw-cmd -d 'Run CMD with `sh -c` and use the first line of its output as the password' -r
complete -c oidc-add -s l -l list -d 'List the configured accounts'
complete -c oidc-add -s a -l loaded -d 'List the accounts loaded in the agent'
complete -c oidc-add -l json -d 'With -a: each loaded account\'s state as JSON (issuer, client id, token expiry, lifetime end, last refresh, refused, unsaved)'
complete -c oidc-add -s r -l remove -d 'Unload the account'
complete -c oidc-add -s R -l remove-all -d 'Unload all accounts'
complete -c oidc-add -s x -l lock -d 'Lock the agent with a password'
complete -c oidc-add -s X -l unlock -d 'Unlock the agent'
complete -c oidc-add -s p -l print -d 'Print the decrypted account (its JSON) and exit'
complete -c oidc-add -l list-issuers -d 'Print the issuers of issuer.config, one per line (for completions)'
complete -c oidc-add -l skip-check -d 'Load without the agent\'s test refresh'
complete -c oidc-add -s f -l force -d 'Load the account even when it is loaded already (a file changed behind the agent, a new lifetime)'
complete -c oidc-add -l no-token-file -d 'Stop keeping the account\'s token file and remove it'
complete -c oidc-add -l pw-keyring -d 'Keep the password in the OS keyring (oidc-gen stores it there; it is looked up there by default whenever no other source is given)'
complete -c oidc-add -s h -l help -d 'Print help'
complete -c oidc-add -s V -l version -d 'Print version'
# Account names (oidc-agent-rs)
complete -c oidc-add -f -n 'not string match -q -- "-*" (commandline -ct)' -a '(oidc-add -l 2>/dev/null)' -d 'account'
