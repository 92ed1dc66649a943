package ingest_test

import (
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/mqttbroker"
)

// The register plugs straight into the pipeline, the alerts and the broker.
var (
	_ ingest.DeviceDirectory         = (*fleet.Register)(nil)
	_ ingest.CheckinRecorder         = (*fleet.Register)(nil)
	_ ingest.AssignmentChecker       = (*fleet.Register)(nil)
	_ mqttbroker.DeviceAuthenticator = (*fleet.Register)(nil)
)
