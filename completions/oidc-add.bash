_oidc__add() {
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
                cmd="oidc__add"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        oidc__add)
            opts="-l -a -r -R -t -x -X -p -f -h -V --list --loaded --json --remove --remove-all --lifetime --lock --unlock --print --list-issuers --skip-check --force --token-file --no-token-file --pw-env --pw-file --pw-cmd --pw-keyring --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --lifetime)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -t)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --token-file)
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
    complete -F _oidc__add -o nosort -o bashdefault -o default oidc-add
else
    complete -F _oidc__add -o bashdefault -o default oidc-add
fi

# Account names (oidc-agent-rs): where the account goes, complete the
# configured accounts; everything else as generated above.
_oidc_rs_oidc_add() {
    local cur="$2" prev="$3"
    case " -t --lifetime --pw-file --pw-cmd " in *" $prev "*) _oidc__add "$@"; return ;; esac
    if [[ $cur != -* ]]; then
        COMPREPLY=( $(compgen -W "$(oidc-add -l 2>/dev/null)" -- "$cur") )
        return 0
    fi
    _oidc__add "$@"
}
complete -F _oidc_rs_oidc_add -o bashdefault -o default oidc-add
