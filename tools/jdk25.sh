# Sourced by the tools/ scripts: finds a JDK 25 (or newer) and exports JAVA_HOME to it.
# Looks at $JAVA_HOME_25, $JAVA_HOME, then /usr/lib/jvm/temurin-25-jdk-amd64 (the default java here is 17).

caldera4j_java_major() { # prints the feature version of "$1/bin/java", or nothing
    [ -x "$1/bin/java" ] || return 0
    "$1/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9][0-9]*\).*/\1/p'
}

caldera4j_find_jdk25() {
    local candidate major
    for candidate in "${JAVA_HOME_25:-}" "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64; do
        [ -n "$candidate" ] || continue
        major=$(caldera4j_java_major "$candidate")
        if [ -n "$major" ] && [ "$major" -ge 25 ]; then
            JAVA_HOME=$candidate
            export JAVA_HOME
            return 0
        fi
    done
    echo "error: no JDK 25 found (looked at \$JAVA_HOME_25='${JAVA_HOME_25:-}', \$JAVA_HOME='${JAVA_HOME:-}'," \
         "/usr/lib/jvm/temurin-25-jdk-amd64)." >&2
    echo "  Install a JDK 25 (Eclipse Temurin 25 from adoptium.net, or 'conda env create -f environment.yml')" \
         "and set JAVA_HOME to it." >&2
    return 1
}
