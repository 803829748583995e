_oidc__gen() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="oidc__gen"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        oidc__gen)
            opts="-l -p -d -u -y -m -w -h -V --accounts --print --delete --update --rename --reauthenticate --confirm-yes --iss --issuer --config-endpoint --discovery-endpoint --configuration-endpoint --client-id --client-secret --pub --manual --scope --audience --aud --cert-path --cert-file --cp --flow --refresh-token --rt --rt-env --redirect-url --redirect-uri --port --no-url-call --no-webserver --code-exchange --codeExchange --device-authorization-endpoint --dae --timeout --access-token --at --client-name-identifier --cnid --only-at --no-save --pw-env --pw-file --pw-cmd --pw-keyring --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --rename)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --issuer)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --iss)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --configuration-endpoint)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --config-endpoint)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --discovery-endpoint)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --client-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --client-secret)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scope)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --aud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --audience)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cert-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cert-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --flow)
                    COMPREPLY=($(compgen -W "code device refresh" -- "${cur}"))
                    return 0
                    ;;
                -w)
                    COMPREPLY=($(compgen -W "code device refresh" -- "${cur}"))
                    return 0
                    ;;
                --rt)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --refresh-token)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rt-env)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --redirect-uri)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --redirect-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --port)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --codeExchange)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --code-exchange)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dae)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --device-authorization-endpoint)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --at)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --access-token)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cnid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --client-name-identifier)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pw-env)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pw-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pw-cmd)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _oidc__gen -o nosort -o bashdefault -o default oidc-gen
else
    complete -F _oidc__gen -o bashdefault -o default oidc-gen
fi
