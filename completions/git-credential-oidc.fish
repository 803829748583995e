complete -c git-credential-oidc -l username -d 'The user name git sends with the token' -r
complete -c git-credential-oidc -l no-autoload -d 'Fail (exit 4) instead of loading a configured account that is not loaded'
complete -c git-credential-oidc -s h -l help -d 'Print help'
complete -c git-credential-oidc -s V -l version -d 'Print version'
