_oidc__token() {
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
                cmd="oidc__token"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        oidc__token)
            opts="-t -s -f -a -c -o -i -e -h -V --time --scope --audience --aud --force-new --all --env --token --issuer --expires-at --bearer --auth --auth-header --id-token --no-autoload --name --json --exec-credential --kube --rejected --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --time)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -t)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scope)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -s)
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
                --token)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --issuer)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -i)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --expires-at)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -e)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --name)
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
    complete -F _oidc__token -o nosort -o bashdefault -o default oidc-token
else
    complete -F _oidc__token -o bashdefault -o default oidc-token
fi

# Account names (oidc-agent-rs): where the account goes, complete the
# configured accounts; everything else as generated above.
_oidc_rs_oidc_token() {
    local cur="$2" prev="$3"
    case " -t --time -s --scope --aud --audience --name " in *" $prev "*) _oidc__token "$@"; return ;; esac
    if [[ $cur != -* ]]; then
        COMPREPLY=( $(compgen -W "$(oidc-add -l 2>/dev/null; oidc-add --list-issuers 2>/dev/null)" -- "$cur") )
        return 0
    fi
    _oidc__token "$@"
}
complete -F _oidc_rs_oidc_token -o bashdefault -o default oidc-token
