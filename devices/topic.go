// Package devices is how devices speak to the service: the MQTT topic
// layout and the topic ACL that every broker applies (embedded or external),
// and the payload codec that turns what a recorder, vehicle terminal or AIS
// unit publishes into typed, sanity-checked values.
//
// It is a domain package: it imports only the standard library (fleet at
// most; and jsontext, the standard library's encoding/json/jsontext that
// Go 1.26 ships only behind an experiment, see payload_decode.go), never
// an MQTT client, a broker or a store. The AIS NMEA decoder
// lives in devices/ais.
package devices

import (
	"strings"
	"time"
)

// TopicRoot is the first two levels of every topic of the contract.
const TopicRoot = "fleet/v1"

// TopicKind is the last level of a device topic: what the payload is.
type TopicKind uint8

const (
	TopicUnknown   TopicKind = iota
	TopicTelemetry           // fleet/v1/{id}/telemetry: JSON object or array
	TopicEvent               // fleet/v1/{id}/event: JSON object
	TopicState               // fleet/v1/{id}/state: retained "online" / "offline"
	TopicNMEA                // fleet/v1/{id}/nmea: NMEA 0183 lines
	TopicFirmware            // fleet/v1/{id}/firmware: firmware job progress
	TopicCommand             // fleet/v1/{id}/cmd/{name}: service → device
)

// DeviceKinds are the topic kinds a device publishes, in contract order.
var DeviceKinds = []TopicKind{TopicTelemetry, TopicEvent, TopicState, TopicNMEA, TopicFirmware}

var topicNames = [...]string{
	TopicUnknown:   "unknown",
	TopicTelemetry: "telemetry",
	TopicEvent:     "event",
	TopicState:     "state",
	TopicNMEA:      "nmea",
	TopicFirmware:  "firmware",
	TopicCommand:   "cmd",
}

// String is the topic level ("telemetry", "cmd", …); it also labels metrics.
func (k TopicKind) String() string {
	if int(k) < len(topicNames) {
		return topicNames[k]
	}
	return "unknown"
}

func kindOf(level string) TopicKind {
	switch level {
	case "telemetry":
		return TopicTelemetry
	case "event":
		return TopicEvent
	case "state":
		return TopicState
	case "nmea":
		return TopicNMEA
	case "firmware":
		return TopicFirmware
	}
	return TopicUnknown
}

// Topic is a parsed contract topic.
type Topic struct {
	DeviceID string
	Kind     TopicKind
	Command  string // for TopicCommand: the name after cmd/, e.g. "firmware.update"
}

// String builds the topic back.
func (t Topic) String() string {
	if t.Kind == TopicCommand {
		return CommandTopic(t.DeviceID, t.Command)
	}
	return DeviceTopic(t.DeviceID, t.Kind)
}

// DeviceTopic is the topic a device publishes kind on.
func DeviceTopic(deviceID string, kind TopicKind) string {
	return TopicRoot + "/" + deviceID + "/" + kind.String()
}

// CommandTopic is the topic the service sends command name to a device on.
func CommandTopic(deviceID, name string) string {
	return TopicRoot + "/" + deviceID + "/cmd/" + name
}

// SubscriptionFilter is the filter that matches kind for every device,
// e.g. "fleet/v1/+/telemetry".
func SubscriptionFilter(kind TopicKind) string {
	return TopicRoot + "/+/" + kind.String()
}

// MaxDeviceIDLen bounds a device id; register ids are far shorter.
const MaxDeviceIDLen = 64

// ValidDeviceID reports whether id can name a device in a topic and as an
// MQTT client id: 1 to 64 of [A-Za-z0-9._-]. That excludes the topic
// separators and wildcards (/ + #) and a leading $ (broker-internal
// topics), so an id can never widen what the ACL grants.
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > MaxDeviceIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// MaxCommandLen bounds the name of a command.
const MaxCommandLen = 64

func validCommand(name string) bool {
	// Command names share the device id alphabet ("firmware.update").
	return ValidDeviceID(name) && len(name) <= MaxCommandLen
}

// ParseTopic parses a contract topic. Errors are *PayloadError with
// ReasonTopic.
func ParseTopic(topic string) (Topic, error) {
	rest, ok := strings.CutPrefix(topic, TopicRoot+"/")
	if !ok {
		return Topic{}, topicError("not under " + TopicRoot)
	}
	id, rest, ok := strings.Cut(rest, "/")
	if !ok || !ValidDeviceID(id) {
		return Topic{}, topicError("bad device id")
	}
	if name, ok := strings.CutPrefix(rest, "cmd/"); ok {
		if !validCommand(name) {
			return Topic{}, topicError("bad command name")
		}
		return Topic{DeviceID: id, Kind: TopicCommand, Command: name}, nil
	}
	kind := kindOf(rest)
	if kind == TopicUnknown {
		return Topic{}, topicError("unknown topic kind")
	}
	return Topic{DeviceID: id, Kind: kind}, nil
}

func topicError(msg string) *PayloadError {
	return &PayloadError{Reason: ReasonTopic, Field: "topic", Msg: msg}
}

// The topic ACL of the contract, one rule for every broker. A device may
// publish only under fleet/v1/{its id}/ (and, of that, only on the five
// topics the contract lists: least privilege, and a device cannot fill a
// broker with topics of its own making), and may subscribe only to
// (filters inside) fleet/v1/{its id}/cmd/.

func devicePrefix(deviceID string) string { return TopicRoot + "/" + deviceID + "/" }

// MayPublish reports whether device deviceID may publish to topic: its
// own telemetry, event, state, nmea or firmware topic.
func MayPublish(deviceID, topic string) bool {
	if !ValidDeviceID(deviceID) {
		return false
	}
	rest, ok := strings.CutPrefix(topic, devicePrefix(deviceID))
	return ok && kindOf(rest) != TopicUnknown
}

// MaySubscribe reports whether device deviceID may subscribe to filter,
// or receive a message published on topic filter: only filters inside
// fleet/v1/{id}/cmd/ qualify ("…/cmd/#", "…/cmd/+", "…/cmd/stream.start").
// Shared subscriptions ($share/…) are refused.
func MaySubscribe(deviceID, filter string) bool {
	if !ValidDeviceID(deviceID) {
		return false
	}
	rest, ok := strings.CutPrefix(filter, devicePrefix(deviceID)+"cmd/")
	return ok && rest != ""
}

// Message is one MQTT message from a device as the ingest pipeline gets it,
// whichever broker delivered it. Payload is not copied: the receiver must
// not modify it.
type Message struct {
	DeviceID string
	Kind     TopicKind
	Payload  []byte
	Received time.Time
}
