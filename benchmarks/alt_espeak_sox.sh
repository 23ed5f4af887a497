#!/usr/bin/env bash
# The alternative a user without voicecoach would reach for: render a session's cues with the
# eSpeak NG command line and SoX, one process per cue, then concatenate with SoX.
#
#   voicecoach plan --json SCRIPT > plan.json
#   benchmarks/alt_espeak_sox.sh plan.json out.wav [RATE_WPM]
#
# Needs: espeak-ng, sox, jq, awk (apt-get install espeak-ng sox jq).
# It reads the timeline JSON (the spec's schema) and walks its speech and tone events in order:
# silence up to each cue (sox -n ... trim), the cue itself (espeak-ng -w, then sox to pad or cut it
# to its slot; or sox synth for a tone), then one sox call concatenates everything, converts to
# 44.1 kHz stereo and peak-normalises to -1 dBFS. Like most hand-made pipelines it plays cues one
# after another: a tone that overlaps speech (breath tones under guidance) is dropped, not mixed.
set -euo pipefail

plan=${1:?usage: alt_espeak_sox.sh PLAN.json OUT.wav [RATE_WPM]}
out=${2:?usage: alt_espeak_sox.sh PLAN.json OUT.wav [RATE_WPM]}
wpm=${3:-150}
sr=22050 # espeak-ng's own output rate

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

jq -r '.events[] | select(.kind == "speech" or .kind == "tone")
       | [.kind, .start_s, .end_s, (.text // .tone)] | @tsv' "$plan" >"$work/cues.tsv"

tone_synth() { # name -> sox synth arguments
  case $1 in
    inhale) echo "sine 300-500" ;;
    exhale) echo "sine 500-300" ;;
    ready) echo "sine 880" ;;
    tick) echo "sine 1200" ;;
    stroke) echo "sine 400-600" ;;
    bell) echo "sine 528 sine 1320" ;;
    *) echo "sine 440" ;;
  esac
}

cursor=0
n=0
dropped=0
while IFS=$'\t' read -r kind start end what; do
  if awk -v s="$start" -v c="$cursor" 'BEGIN { exit !(s < c - 0.0005) }'; then
    dropped=$((dropped + 1)) # overlaps the previous cue: a sequential pipeline cannot mix it
    continue
  fi
  gap=$(awk -v s="$start" -v c="$cursor" 'BEGIN { printf "%.6f", s - c }')
  if awk -v g="$gap" 'BEGIN { exit !(g > 0.0005) }'; then
    n=$((n + 1))
    sox -q -V1 -n -r "$sr" -c 1 -b 16 "$(printf '%s/%06d.wav' "$work" "$n")" trim 0 "$gap"
  fi
  dur=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f", e - s }')
  n=$((n + 1))
  seg=$(printf '%s/%06d.wav' "$work" "$n")
  if [[ $kind == speech ]]; then
    espeak-ng -s "$wpm" -w "$work/say.wav" -- "$what"
    sox -q -V1 "$work/say.wav" -r "$sr" -c 1 -b 16 "$seg" pad 0 "$dur" trim 0 "$dur"
  else
    # shellcheck disable=SC2046
    sox -q -V1 -n -r "$sr" -c 1 -b 16 "$seg" synth "$dur" $(tone_synth "$what") fade q 0.01 "$dur" 0.05 vol 0.3
  fi
  cursor=$end
done <"$work/cues.tsv"

sox -q -V1 "$work"/[0-9]*.wav -r 44100 -c 2 -b 16 "$out" gain -n -1
echo "alt_espeak_sox: $n segments, $dropped overlapping cues dropped -> $out" >&2
