#!/bin/sh
# systemctl stand-in for the local SSH test hosts (test/harness/hosts.ts bind-mounts it over
# /usr/bin/systemctl inside each host's mount namespace). There is no systemd in the test hosts.
#
# Every invocation appends its arguments, joined by single spaces, as one line to the host's
# /var/lib/opke-test/systemctl.log:
#   - by root (e.g. through sudo): the plain arguments, e.g. "daemon-reload", "restart kubelet.service";
#   - by anyone else: "[uid N] " + the arguments.
# Queries answer as if every unit were active and enabled (is-active → "active", exit 0).
# Every other verb (start, restart, enable, daemon-reload, …) succeeds for root and does nothing; for
# a non-root caller it fails with exit 1 like a real systemctl without polkit rights would.

log=/var/lib/opke-test/systemctl.log

uid=$(id -u)
if [ "$uid" = 0 ]; then
    line="$*"
else
    line="[uid $uid] $*"
fi
printf '%s\n' "$line" >>"$log" 2>/dev/null || true

quiet=0
verb=
units=0
skip=0
for a in "$@"; do
    if [ "$skip" = 1 ]; then
        skip=0
        continue
    fi
    case "$a" in
        --version)
            echo "systemd 252 (opke-test systemctl stub)"
            exit 0
            ;;
        -q | --quiet) quiet=1 ;;
        -p | -t | -s | -n | -o | -H | -M | --property | --type | --state | --signal | --lines | --output | \
            --host | --machine | --kill-whom | --job-mode | --root | --what | --timestamp) skip=1 ;;
        -*) ;;
        *)
            if [ -z "$verb" ]; then
                verb=$a
            else
                units=$((units + 1))
            fi
            ;;
    esac
done

say() {
    [ "$quiet" = 1 ] && return 0
    n=$units
    [ "$n" -lt 1 ] && n=1
    while [ "$n" -gt 0 ]; do
        echo "$1"
        n=$((n - 1))
    done
}

case "$verb" in
    is-active)
        say active
        exit 0
        ;;
    is-enabled)
        say enabled
        exit 0
        ;;
    is-failed)
        say active
        exit 1
        ;;
    is-system-running)
        say running
        exit 0
        ;;
    "" | status | show | cat | list-units | list-unit-files | list-timers | list-jobs | list-sockets | \
        list-dependencies | show-environment | get-default)
        exit 0
        ;;
esac

if [ "$uid" != 0 ]; then
    echo "Failed to $verb: Interactive authentication required. (opke-test systemctl stub: run it as root)" >&2
    exit 1
fi
exit 0
