# Shared by the start/stop scripts of the local services. Source it; do not run it.

# wait_for_http URL PID_FILE LOG NAME [SECONDS [2XX]]: waits up to SECONDS (30) for URL to
# answer (with a 2xx when the sixth argument is 2xx: a health check) while the process
# lives; prints the log tail and fails otherwise.
wait_for_http() {
  local url="$1" pid_file="$2" log="$3" name="$4" seconds="${5:-30}"
  local curl_flags=(-s -o /dev/null)
  [ "${6:-}" = 2xx ] && curl_flags+=(-f)
  for _ in $(seq 1 $((seconds * 4))); do
    if curl "${curl_flags[@]}" "$url"; then
      echo "$name on ${url%/*} (pid $(cat "$pid_file"))"
      return 0
    fi
    kill -0 "$(cat "$pid_file")" 2>/dev/null || break
    sleep 0.25
  done
  echo "$name did not start; log tail:" >&2
  tail -n 20 "$log" >&2 || true
  return 1
}

# stop_pid PID_FILE: stops the process a start wrote down, if any.
stop_pid() {
  if [ -f "$1" ]; then
    kill "$(cat "$1")" 2>/dev/null || true
    rm -f "$1"
  fi
}
