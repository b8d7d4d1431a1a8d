#!/bin/sh
# Entry point of the followup image.
#
#   (no arguments) or "run"   migrate the database (idempotent), then become the daemon
#   a followup command        run it: docker run --rm -v followup-data:/data followup status
#   any other program         run it: docker run --rm -it followup sh
set -eu

if [ "$#" -eq 0 ] || [ "$1" = run ]; then
    [ "$#" -eq 0 ] || shift
    # PID 1 ignores signals it has no handler for: stop cleanly even during the migration.
    trap 'exit 143' TERM INT
    followup init
    trap - TERM INT
    # exec: the daemon replaces this shell as PID 1 and receives docker stop's SIGTERM.
    exec followup run "$@"
fi

case "$1" in
    -*) exec followup "$@" ;;
esac
if ! command -v "$1" >/dev/null 2>&1; then
    exec followup "$@"
fi
exec "$@"
