#!/usr/bin/env bash
# Installs the test search engine (OpenSearch jars + our launcher) into .cache/opensearch; a no-op when up to date.
set -euo pipefail
cd "$(dirname "$0")/../.."

dest=.cache/opensearch
# The stamp is the hash of what the install is made from: a changed pom or launcher reinstalls.
want=$(cat test/engine/pom.xml test/engine/TestSearchNode.java | sha256sum | cut -d' ' -f1)
if [ -f "$dest/stamp" ] && [ "$(cat "$dest/stamp")" = "$want" ]; then
  echo "search engine: up to date in $dest"
  exit 0
fi

command -v mvn >/dev/null || { echo "search engine: mvn not found (Debian package 'maven')" >&2; exit 1; }
command -v javac >/dev/null || { echo "search engine: javac not found (a JDK 17, Debian package 'openjdk-17-jdk-headless')" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$dest/lib" "$dest/classes"
# The jars land in Maven's own local repository (~/.m2) first, so a reinstall needs no network.
if ! mvn -B -f test/engine/pom.xml dependency:copy-dependencies -DoutputDirectory="$PWD/$dest/lib" > "$dest/mvn.log" 2>&1; then
  grep -E 'ERROR|BUILD' "$dest/mvn.log" | head -20 >&2
  echo "search engine: Maven could not fetch the OpenSearch jars named in test/engine/pom.xml (full log: $dest/mvn.log)" >&2
  exit 1
fi
javac -d "$dest/classes" -cp "$dest/lib/*" test/engine/TestSearchNode.java
echo "$want" > "$dest/stamp"
echo "search engine: installed $(ls "$dest/lib" | wc -l) jars in $dest"
