#!/bin/sh
# deps.sh: the one list of Debian packages lumi needs, and the check that
# `make run`, `make test` and .ci/run perform before building.
#
#   tools/deps.sh ensure     required missing: install them (root) or print the
#                            exact `sudo apt-get install` line and exit 1;
#                            optional missing: install them too (root) or list
#                            them with what each adds (exit 0)
#   tools/deps.sh ensure-ci  as ensure, plus the CI-only tools; all are required
#   tools/deps.sh list [required|optional|ci]   package names, one a line
#
# Adding a package is one line in the right list below: "name  what it is for".
set -u

required() {
    cat <<'EOF'
build-essential      C compiler and make
pkg-config           finds the libraries below
libyaml-dev          experiment configs (YAML)
check                the test suite
zlib1g-dev           compressed goldens (.npy.gz)
libjansson-dev       JSON (tokenizer.json, config.json, safetensors headers)
libpcre2-dev         tokenizer pre-split patterns
libunistring-dev     NFC normalization (Qwen's tokenizer)
EOF
}

optional() {
    cat <<'EOF'
gnuplot-nox          study and bench plots (PNG)
libopenblas-dev      the blas backend
libedit-dev          line editing in interactive prompts
ocl-icd-opencl-dev   the OpenCL backend (loader)
opencl-headers       the OpenCL backend (headers)
pocl-opencl-icd      an OpenCL device on the CPU (runs the OpenCL backend without a GPU)
EOF
}

# Only .ci/run needs these: sanitizer and fuzzing builds.
ci() {
    cat <<'EOF'
clang                sanitizer and libFuzzer builds (make test SANITIZE=1, make fuzz)
libclang-rt-14-dev   the sanitizer and libFuzzer runtimes for clang 14
clinfo               lists the OpenCL devices CI tests on
slurm-wlm            the one-node Slurm test (tests/slurm/run.sh)
munge                Slurm's authentication, for the same test
EOF
}

names() { "$1" | awk 'NF { print $1 }'; }

# The packages of a list that are not installed, one dpkg-query for all.
missing() {
    # shellcheck disable=SC2046
    ok=$(dpkg-query -W -f='${Package} ${Status}\n' $(names "$1") 2>/dev/null | awk '/ install ok installed$/ { print $1 }')
    for p in $(names "$1"); do
        # build-essential is only a meta package: a working cc and make are what counts
        if [ "$p" = build-essential ] && command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1; then continue; fi
        echo "$ok" | grep -qx "$p" || echo "$p"
    done
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    # a fresh system has no package lists yet; refresh at most once per call
    if [ -z "${updated:-}" ]; then apt-get update -qq || return 1; updated=1; fi
    apt-get install -y -qq --no-install-recommends "$@"
}

ensure() {
    lists=$1
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "deps: not a Debian system, cannot check packages; lumi needs (Debian names):" \
            $(for l in $lists; do names "$l"; done) >&2
        return 0
    fi
    root=0
    [ "$(id -u)" = 0 ] && root=1
    req=$(for l in $lists; do missing "$l"; done | tr '\n' ' ')
    opt=""
    [ "$lists" = required ] && opt=$(missing optional | tr '\n' ' ')
    if [ -n "${req% }" ]; then
        if [ $root = 1 ]; then
            echo "deps: installing required packages: $req" >&2
            # shellcheck disable=SC2086
            apt_install $req >&2 || { echo "deps: apt-get install failed: $req" >&2; return 1; }
        else
            echo "deps: missing required packages; install them with:" >&2
            echo "  sudo apt-get install --no-install-recommends $req" >&2
            return 1
        fi
    fi
    if [ -n "${opt% }" ]; then
        if [ $root = 1 ]; then
            echo "deps: installing optional packages: $opt" >&2
            # shellcheck disable=SC2086
            apt_install $opt >&2 || echo "deps: optional packages not installed (lumi builds without them): $opt" >&2
        else
            echo "deps: optional packages not installed (lumi builds without them):" >&2
            for p in $opt; do optional | awk -v p="$p" '$1 == p { $1 = ""; print "  " p ":" $0 }' >&2; done
            echo "  to add them: sudo apt-get install --no-install-recommends $opt" >&2
        fi
    fi
    return 0
}

case "${1:-}" in
ensure) ensure required ;;
ensure-ci) ensure "required optional ci" ;;
list) names "${2:-required}" ;;
*)
    echo "usage: tools/deps.sh ensure | ensure-ci | list [required|optional|ci]" >&2
    exit 2
    ;;
esac
