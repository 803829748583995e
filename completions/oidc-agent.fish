complete -c oidc-agent -s a -l socket-path -l bind-address -l bind_address -d 'Create the socket at PATH instead of a fresh temporary directory' -r -F
complete -c oidc-agent -s t -l lifetime -d 'Default lifetime of loaded accounts in seconds (0: forever)' -r
complete -c oidc-agent -l connect-timeout -d 'Deadline for connecting (TCP and TLS) to a provider, in seconds' -r
complete -c oidc-agent -l request-timeout -d 'How long a client waits for the provider\'s answer to a refresh, in seconds, at most 40 (the agent waits on, so that a rotated token is not lost)' -r
complete -c oidc-agent -l log-file -d 'Append the daemon\'s log to FILE (default: its last 300 lines are kept in memory, shown by --status)' -r -F
complete -c oidc-agent -l pid-file -d 'Write the agent\'s pid to PATH (as oidc-agent-service does)' -r -F
complete -c oidc-agent -s k -l kill -d 'Kill the agent named by $OIDCD_PID'
complete -c oidc-agent -s d -l console -d 'Stay in the foreground (do not daemonize); log to stderr'
complete -c oidc-agent -l json -d 'Print the socket and pid as JSON instead of shell code'
complete -c oidc-agent -l quiet -d 'Leave out the `echo Agent pid ...` line'
complete -c oidc-agent -l status -d 'Ask the running agent for its status (with --json: as JSON)'
complete -c oidc-agent -l no-autoload -d 'Never load an account for a token request (only oidc-add loads)'
complete -c oidc-agent -s h -l help -d 'Print help'
complete -c oidc-agent -s V -l version -d 'Print version'
