# Sourced by bench/run.sh and bench/stores.sh: the machine and the moment a
# benchmark starts, as RESULTS.md records them (CPU, cores, kernel, VM flag,
# PVM, start time, load average, commit).
CPU="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
CORES="$(nproc)"
KERNEL="$(uname -sr)"
HYPER="$(grep -qw hypervisor /proc/cpuinfo && echo "yes (the 'hypervisor' CPU flag is set)" || echo no)"
PVM="$(grep -o 'pvm[a-z_]*' /proc/cmdline 2>/dev/null | head -1 || true)"
START="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo ' + uncommitted changes' || true)"
