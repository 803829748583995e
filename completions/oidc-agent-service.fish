complete -c oidc-agent-service -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oidc-agent-service -s V -l version -d 'Print version'
