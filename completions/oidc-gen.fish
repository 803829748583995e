complete -c oidc-gen -s p -l print -d 'Print the decrypted account (this one, or FILE) to stdout' -r
complete -c oidc-gen -s u -l update -d 'Re-encrypt the account (this one, or FILE) in the current format, with a new password (from OIDC_NEW_ENCRYPTION_PW or the terminal); encrypt a plain JSON account' -r
complete -c oidc-gen -l rename -d 'Rename the account to NEW' -r
complete -c oidc-gen -l prompt -d 'How to ask: cli, gui (the terminal here too) or none (never ask)' -r -f -a "cli\t'On the terminal'
gui\t'oidc-agent\'s GUI prompt; here the terminal, as `cli`'
none\t'Never ask: defaults for questions, a password only from --pw-*'"
complete -c oidc-gen -l issuer -l iss -d 'The issuer URL' -r
complete -c oidc-gen -l configuration-endpoint -l config-endpoint -l discovery-endpoint -d 'Discovery document URL (file:///PATH too), when not under the issuer\'s /.well-known/; without --issuer, the document\'s issuer' -r
complete -c oidc-gen -l client-id -d 'The client id (implies --manual)' -r
complete -c oidc-gen -l client-secret -d 'The client secret of a confidential client (empty: a public client); visible to other users in `ps`, prefer --client-secret-env or --client-secret-file' -r
complete -c oidc-gen -l client-secret-env -d 'Read the client secret from the environment variable VAR [default: OIDC_CLIENT_SECRET]' -r
complete -c oidc-gen -l client-secret-file -d 'Read the client secret from the first line of FILE' -r -F
complete -c oidc-gen -l client-auth -d 'Client authentication at the token endpoint [default: basic when the provider offers it, else post]' -r -f -a "basic\t'HTTP Basic (`client_secret_basic`)'
post\t'In the form body (`client_secret_post`)'"
complete -c oidc-gen -s f -l file -d 'Read the client (client_id, client_secret, redirect_uris, scope, issuer) from the JSON FILE (implies --manual)' -r -F
complete -c oidc-gen -l scope -d 'Scopes (repeatable or space-separated; `max`: all the provider offers)' -r
complete -c oidc-gen -l aud -l audience -d 'Audience(s) for access tokens' -r
complete -c oidc-gen -l cp -l cert-path -l cert-file -d 'Extra CA bundle (PEM) for a provider with a private CA' -r -F
complete -c oidc-gen -s w -l flow -d 'Flow(s) to use, in order of preference' -r -f -a "code\t'Authorization-code flow with PKCE through a loopback listener'
device\t'Device authorization grant (RFC 8628)'
refresh\t'Import a refresh token (--rt)'"
complete -c oidc-gen -l rt -l refresh-token -d 'Import this refresh token (implies --flow refresh); visible to other users in `ps`, prefer --rt-env' -r
complete -c oidc-gen -l rt-env -l refresh-token-env -d 'Import the refresh token from the environment variable VAR [default: OIDC_REFRESH_TOKEN]' -r
complete -c oidc-gen -l redirect-uri -l redirect-url -d 'Redirect URI(s) for the code flow (repeatable, or a space-separated list)' -r
complete -c oidc-gen -l port -d 'Loopback port(s) for the code flow (repeatable; `http://localhost:PORT`)' -r
complete -c oidc-gen -l codeExchange -l code-exchange -d 'Finish a code flow with the URL the browser was redirected to' -r
complete -c oidc-gen -l dae -l device-authorization-endpoint -d 'Device authorization endpoint, when discovery lacks it' -r
complete -c oidc-gen -l timeout -d 'Seconds to wait for the browser or device approval' -r
complete -c oidc-gen -l at -l access-token -d 'Access token for a protected registration endpoint' -r
complete -c oidc-gen -l cnid -l client-name-identifier -d 'Client name identifier for dynamic registration' -r
complete -c oidc-gen -l pw-env -d 'Read the password from the environment variable VAR [default: OIDC_ENCRYPTION_PW]' -r
complete -c oidc-gen -l pw-file -d 'Read the password from the first line of FILE' -r -F
complete -c oidc-gen -l pw-cmd -d 'Run CMD with `sh -c` and use the first line of its output as the password' -r
complete -c oidc-gen -s l -l accounts -d 'List the configured accounts'
complete -c oidc-gen -s d -l delete -d 'Delete the account (revoking its refresh token at the provider)'
complete -c oidc-gen -l reauthenticate -d 'Get a new refresh token for an existing account, keeping its other settings'
complete -c oidc-gen -s y -l confirm-yes -d 'Answer yes to confirmation questions'
complete -c oidc-gen -l confirm-no -d 'Answer no to confirmation questions'
complete -c oidc-gen -l confirm-default -d 'Take the default answer of confirmation questions'
complete -c oidc-gen -l pub -d 'The client is public (no secret; PKCE); without --client-id, the issuer\'s preregistered public client from oidc-agent\'s pubclients.config or issuer.config(.d) (account directory, then /etc/oidc-agent)'
complete -c oidc-gen -s m -l manual -d 'Do not register a client dynamically; for an account that exists, edit its issuer, client, scopes and redirect URIs in prompts, then log in again'
complete -c oidc-gen -l scope-all -l scope-max -d 'All scopes the provider offers (same as --scope max)'
complete -c oidc-gen -l no-url-call -d 'Only print the authorization URL; do not open a browser'
complete -c oidc-gen -l no-webserver -d 'Do not run the loopback listener; paste the redirected URL instead'
complete -c oidc-gen -l only-at -d 'Print one access token and save nothing'
complete -c oidc-gen -l no-save -d 'Load the account into the agent but do not save it'
complete -c oidc-gen -l pw-keyring -d 'Keep the password in the OS keyring (oidc-gen stores it there; it is looked up there by default whenever no other source is given)'
complete -c oidc-gen -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oidc-gen -s V -l version -d 'Print version'
# Account names (oidc-agent-rs)
complete -c oidc-gen -f -n 'not string match -q -- "-*" (commandline -ct)' -a '(oidc-add -l 2>/dev/null)' -d 'account'
