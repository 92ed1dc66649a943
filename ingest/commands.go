package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lawfleet/fleet/devices"
)

// Publisher sends one MQTT message: the embedded broker, or a client of
// an external one.
type Publisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// Commands sends the service's commands to devices on
// fleet/v1/{id}/cmd/{name}. Commands are QoS 1 and not retained: a device
// that is offline must not act on a stale command when it comes back.
type Commands struct {
	pub     Publisher
	pushURL func(deviceID string) string
	now     func() time.Time
}

// NewCommands returns a command sender. pushURL gives the RTSP address a
// recorder pushes its live stream to.
func NewCommands(pub Publisher, pushURL func(deviceID string) string) *Commands {
	return &Commands{pub: pub, pushURL: pushURL, now: time.Now}
}

// Send publishes command name with payload v to a device.
func (c *Commands) Send(ctx context.Context, deviceID, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ingest: encode %s command: %w", name, err)
	}
	topic := devices.CommandTopic(deviceID, name)
	if err := c.pub.Publish(topic, b, false, 1); err != nil {
		return fmt.Errorf("ingest: send %s to %s: %w", name, deviceID, err)
	}
	return nil
}

// StartStream tells a recorder to push its live video.
func (c *Commands) StartStream(ctx context.Context, deviceID string) error {
	return c.Send(ctx, deviceID, "stream.start", map[string]any{
		"ts": c.now().UnixMilli(), "url": c.pushURL(deviceID)})
}

// StopStream tells a recorder to stop pushing.
func (c *Commands) StopStream(ctx context.Context, deviceID string) error {
	return c.Send(ctx, deviceID, "stream.stop", map[string]any{"ts": c.now().UnixMilli()})
}
