#!/bin/sh
# Start a PulseAudio server with a null sink named "vc" (idempotent).
#
# A real, real-time-paced sound device for the playback tests and for CI on
# machines with no sound card (see ../shared/NOTES-audio.md). Whatever is
# played to it can be recorded from "vc.monitor" with parec.
#
# Usage:  eval "$(tools/pulse-up.sh)"      # start (or reuse) and export env
#         tools/pulse-up.sh --stop          # ask the server to exit
# The runtime folder is $VOICECOACH_PULSE_DIR (default /tmp/voicecoach-pulse).
# On success it prints shell `export` lines for XDG_RUNTIME_DIR and
# PULSE_SERVER on stdout and exits 0; on failure it says why on stderr and
# exits 1.
set -u

dir="${VOICECOACH_PULSE_DIR:-/tmp/voicecoach-pulse}"
server="unix:$dir/pulse/native"

fail() {
    echo "pulse-up: $*" >&2
    exit 1
}

for tool in pulseaudio pactl; do
    command -v "$tool" >/dev/null 2>&1 \
        || fail "'$tool' not found; install it: apt-get install pulseaudio pulseaudio-utils libasound2-plugins"
done

export XDG_RUNTIME_DIR="$dir"
export PULSE_SERVER="$server"

if [ "${1:-}" = "--stop" ]; then
    [ -d "$dir" ] && pactl exit >/dev/null 2>&1
    exit 0
fi

mkdir -p "$dir" || fail "cannot create $dir"
chmod 700 "$dir"

has_sink() {
    pactl list short sinks 2>/dev/null | awk '{print $2}' | grep -qx vc
}

if ! pactl info >/dev/null 2>&1; then
    # -n: no default.pa (no hardware probing); the native protocol for pactl,
    # parec and the ALSA "pulse" plugin that PortAudio goes through.
    pulseaudio --daemonize=yes --exit-idle-time=-1 --use-pid-file=yes -n \
        --log-target=file:"$dir/pulse.log" \
        --load="module-null-sink sink_name=vc" \
        --load=module-native-protocol-unix \
        || fail "pulseaudio did not start (log: $dir/pulse.log)"
    i=0
    until pactl info >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -gt 50 ] && fail "pulseaudio started but does not answer on $server (log: $dir/pulse.log)"
        sleep 0.1
    done
fi

if ! has_sink; then
    pactl load-module module-null-sink sink_name=vc >/dev/null \
        || fail "could not load module-null-sink"
fi
pactl set-default-sink vc >/dev/null 2>&1 || fail "could not make 'vc' the default sink"

echo "export XDG_RUNTIME_DIR='$dir'"
echo "export PULSE_SERVER='$server'"
