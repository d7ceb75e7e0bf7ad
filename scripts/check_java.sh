#!/usr/bin/env bash
# Spark 4 runs on Java 17 or newer. Say exactly what to do when it is missing or too old.
set -u
java_bin="java"
[ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && java_bin="$JAVA_HOME/bin/java"
hint="Install it with 'sudo apt-get install openjdk-17-jre-headless' (Debian/Ubuntu), 'brew install openjdk@17' (macOS) or from https://adoptium.net, then set JAVA_HOME or put java on PATH."
if ! command -v "$java_bin" >/dev/null 2>&1; then
  echo "ERROR: Java 17+ is required by Spark, and no 'java' was found. $hint" >&2
  exit 1
fi
version=$("$java_bin" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
major=${version%%.*}
[ "$major" = "1" ] && major=$(echo "$version" | cut -d. -f2)
if ! [[ "$major" =~ ^[0-9]+$ ]] || [ "$major" -lt 17 ]; then
  echo "ERROR: Java 17+ is required by Spark, found '$version' at $(command -v "$java_bin"). $hint" >&2
  exit 1
fi
