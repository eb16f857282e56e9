#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Announce the service address over BGP only while ringlb says this node
# should get new connections. BIRD announces it from a static protocol
# (PROTOCOL, configured "disabled" so nothing is announced before the
# first good answer); this loop asks ringlb's GET /health every INTERVAL
# seconds and enables the protocol on 200, disables it on anything else:
# 503 (withdrawn, draining, no server up), no answer, ringlb not running.
# On exit it disables the protocol: no gate, no announcement.
#
# usage: bird-health-gate.sh HEALTH_URL BIRD_SOCKET PROTOCOL [INTERVAL]
#   e.g. bird-health-gate.sh http://127.0.0.1:9477/health \
#            /run/bird/bird.ctl vip 0.5
# See Documentation/deploy.rst, "Past one machine".
set -u
url=$1 sock=$2 proto=$3 interval=${4:-0.5}
state=unknown
said=""

birdc_do()
{
	out=$(birdc -s "$sock" "$1" "$proto" 2>&1) || return 1
	case $out in
	*"$proto: ${1}d"*|*"$proto: already ${1}d"*) return 0 ;;
	esac
	return 1
}

trap 'birdc_do disable; exit 0' TERM INT HUP
while :; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")
	if [ "$code" = 200 ]; then want=enable; else want=disable; fi
	if [ "$want" != "$state" ]; then
		if birdc_do "$want"; then
			echo "bird-health-gate: health $code: ${want}d $proto" >&2
			state=$want
		elif [ "$said" != "$out" ]; then
			# once per distinct failure, not every interval
			echo "bird-health-gate: birdc $want $proto failed: $out" >&2
			said=$out
		fi
	fi
	sleep "$interval"
done
