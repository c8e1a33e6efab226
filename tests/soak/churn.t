#!/bin/bash
# make check's short run of the churn soak (tests/soak/churn.sh): 30 s of
# churn over 10,000 containers unless SOAK_SECONDS says otherwise.
export SOAK_SECONDS=${SOAK_SECONDS:-30}
exec bash "$(dirname "$0")/churn.sh"
