# shellcheck shell=bash
# Parse --option value / --option=value into the shell variables of the same name (dashes
# become underscores), in the manner of Kaldi's parse_options.sh. Source it after setting the
# defaults. An option with no variable of that name is an error; --help prints the script's
# header comment (the lines starting with '#' after the shebang).
#
# Arguments that are not options are left in "$@".

_print_help() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
}

_positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) _print_help; exit 0 ;;
    --*=*) _name="${1%%=*}"; _value="${1#*=}"; shift ;;
    --*)
      _name="$1"
      if [ $# -lt 2 ]; then echo "$0: option $_name needs a value" >&2; exit 2; fi
      _value="$2"; shift 2 ;;
    *) _positional+=("$1"); shift; continue ;;
  esac
  _var="${_name#--}"; _var="${_var//-/_}"
  if ! declare -p "$_var" > /dev/null 2>&1; then
    echo "$0: unknown option $_name (see --help)" >&2; exit 2
  fi
  printf -v "$_var" '%s' "$_value"
done
set -- ${_positional[@]+"${_positional[@]}"}
unset _name _value _var _positional
