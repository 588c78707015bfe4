#!/usr/bin/env bash
# Installs the test Kafka broker (Apache Kafka jars from Maven Central) into .cache/kafka; a no-op when up to date.
set -euo pipefail
cd "$(dirname "$0")/../.."

dest=.cache/kafka
# The stamp is the hash of what the install is made from: a changed pom reinstalls.
want=$(sha256sum < test/kafka/pom.xml | cut -d' ' -f1)
if [ -f "$dest/stamp" ] && [ "$(cat "$dest/stamp")" = "$want" ]; then
  echo "kafka broker: up to date in $dest"
  exit 0
fi

command -v mvn >/dev/null || { echo "kafka broker: mvn not found (Debian package 'maven')" >&2; exit 1; }
command -v java >/dev/null || { echo "kafka broker: java not found (Kafka 4.x needs Java 17+, Debian package 'openjdk-17-jre-headless')" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$dest/lib"
# The jars land in Maven's own local repository (~/.m2) first, so a reinstall needs no network.
if ! mvn -B -f test/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$PWD/$dest/lib" > "$dest/mvn.log" 2>&1; then
  grep -E 'ERROR|BUILD' "$dest/mvn.log" | head -20 >&2
  echo "kafka broker: Maven could not fetch the Kafka jars named in test/kafka/pom.xml (full log: $dest/mvn.log)" >&2
  exit 1
fi
echo "$want" > "$dest/stamp"
echo "kafka broker: installed $(ls "$dest/lib" | wc -l) jars in $dest"
