# Sourced: sets $python2 to a Python 2.7 interpreter — $PYTHON2, else
# pyenv's 2.7.18, else `python2.7` on PATH — or fails saying so. The real
# metlog-py, metlog-cef and metlog-raven run only under Python 2.
python2=${PYTHON2:-}
if [ -z "$python2" ]; then
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python" "$(command -v python2.7 || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            python2=$candidate
            break
        fi
    done
fi
if [ -z "$python2" ]; then
    echo "$(basename "$0"): no Python 2.7 found (set PYTHON2)" >&2
    exit 1
fi
