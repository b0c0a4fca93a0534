# Shared by scripts/run, scripts/test and scripts/bench: install what is missing, find free ports.

# The Debian packages the build and the tests need.
L2MET_APT_PACKAGES=(libhiredis-dev libssl-dev libcurl4-openssl-dev zlib1g-dev redis-server pkg-config)

# Installs the missing packages among "$@" with apt-get (as root, or through sudo).
ensure_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_toolchain() {
    command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH: install the Swift 6 toolchain first" >&2; exit 1; }
    ensure_apt "${L2MET_APT_PACKAGES[@]}"
}

# Installs the missing Python modules among "$@" (as module=package pairs) with pip; the tests use
# Python's `cryptography` as an independent Fernet implementation.
ensure_python() {
    command -v python3 >/dev/null 2>&1 || ensure_apt python3 python3-pip
    local missing=()
    for pair in "$@"; do
        python3 -c "import ${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
    done
    ((${#missing[@]})) || return 0
    echo "installing Python packages: ${missing[*]}" >&2
    python3 -m pip install -q "${missing[@]}" >&2 || python3 -m pip install -q --break-system-packages "${missing[@]}" >&2
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return 0; fi
    done
    echo "no free port found" >&2
    return 1
}
