package devices

import "testing"

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  Topic
		ok    bool
	}{
		{"fleet/v1/rec_01/telemetry", Topic{DeviceID: "rec_01", Kind: TopicTelemetry}, true},
		{"fleet/v1/rec_01/event", Topic{DeviceID: "rec_01", Kind: TopicEvent}, true},
		{"fleet/v1/rec_01/state", Topic{DeviceID: "rec_01", Kind: TopicState}, true},
		{"fleet/v1/ais-7/nmea", Topic{DeviceID: "ais-7", Kind: TopicNMEA}, true},
		{"fleet/v1/x.y/firmware", Topic{DeviceID: "x.y", Kind: TopicFirmware}, true},
		{"fleet/v1/rec_01/cmd/firmware.update", Topic{DeviceID: "rec_01", Kind: TopicCommand, Command: "firmware.update"}, true},
		{"fleet/v1/rec_01/cmd/", Topic{}, false},
		{"fleet/v1/rec_01/cmd/a/b", Topic{}, false},
		{"fleet/v1/rec_01/telemetry/extra", Topic{}, false},
		{"fleet/v1/rec_01/gps", Topic{}, false},
		{"fleet/v1//telemetry", Topic{}, false},
		{"fleet/v1/+/telemetry", Topic{}, false},
		{"fleet/v1/$x/telemetry", Topic{}, false},
		{"fleet/v2/rec_01/telemetry", Topic{}, false},
		{"fleet/v1/rec_01", Topic{}, false},
		{"", Topic{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTopic(tt.topic)
		if (err == nil) != tt.ok {
			t.Errorf("ParseTopic(%q) error = %v, want ok %v", tt.topic, err, tt.ok)
			continue
		}
		if !tt.ok {
			if ReasonOf(err) != ReasonTopic {
				t.Errorf("ParseTopic(%q) reason = %q", tt.topic, ReasonOf(err))
			}
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTopic(%q) = %+v, want %+v", tt.topic, got, tt.want)
		}
		if got.String() != tt.topic {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tt.topic)
		}
	}
}

func TestValidDeviceID(t *testing.T) {
	long := make([]byte, MaxDeviceIDLen+1)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		id string
		ok bool
	}{
		{"dev_0192a3b4c5d6e7f8", true},
		{"A-b.c_9", true},
		{string(long[:MaxDeviceIDLen]), true},
		{string(long), false},
		{"", false},
		{"a/b", false},
		{"a+b", false},
		{"#", false},
		{"$SYS", false},
		{"a b", false},
		{"执法仪", false},
	}
	for _, tt := range tests {
		if got := ValidDeviceID(tt.id); got != tt.ok {
			t.Errorf("ValidDeviceID(%q) = %v, want %v", tt.id, got, tt.ok)
		}
	}
}

func TestACL(t *testing.T) {
	tests := []struct {
		device, topic string
		pub, sub      bool
	}{
		{"d1", "fleet/v1/d1/telemetry", true, false},
		{"d1", "fleet/v1/d1/state", true, false},
		{"d1", "fleet/v1/d1/nmea", true, false},
		{"d1", "fleet/v1/d1/firmware", true, false},
		{"d1", "fleet/v1/d1/event", true, false},
		{"d1", "fleet/v1/d1/anything", false, false},
		{"d1", "fleet/v1/d1/telemetry/extra", false, false},
		{"d1", "fleet/v1/d2/telemetry", false, false},
		{"d1", "fleet/v1/d10/telemetry", false, false},
		{"d10", "fleet/v1/d1/telemetry", false, false},
		{"d1", "fleet/v1/d1/cmd/stream.start", false, true},
		{"d1", "fleet/v1/d1/cmd", false, false},
		{"d1", "fleet/v1/d1/cmd/#", false, true},
		{"d1", "fleet/v1/d1/cmd/+", false, true},
		{"d1", "fleet/v1/d1/#", false, false},
		{"d1", "fleet/v1/d1/+", false, false},
		{"d1", "fleet/v1/+/cmd/#", false, false},
		{"d1", "fleet/v1/d2/cmd/#", false, false},
		{"d1", "fleet/#", false, false},
		{"d1", "#", false, false},
		{"d1", "$share/g/fleet/v1/d1/cmd/#", false, false},
		{"d1", "fleet/v1/d1/", false, false},
		{"d1", "fleet/v1/d1/telemetry/#", false, false},
		{"d+", "fleet/v1/d+/telemetry", false, false},
		{"", "fleet/v1//telemetry", false, false},
	}
	for _, tt := range tests {
		if got := MayPublish(tt.device, tt.topic); got != tt.pub {
			t.Errorf("MayPublish(%q, %q) = %v, want %v", tt.device, tt.topic, got, tt.pub)
		}
		if got := MaySubscribe(tt.device, tt.topic); got != tt.sub {
			t.Errorf("MaySubscribe(%q, %q) = %v, want %v", tt.device, tt.topic, got, tt.sub)
		}
	}
}

func TestTopicBuilders(t *testing.T) {
	if got := DeviceTopic("d1", TopicTelemetry); got != "fleet/v1/d1/telemetry" {
		t.Errorf("DeviceTopic = %q", got)
	}
	if got := CommandTopic("d1", "stream.start"); got != "fleet/v1/d1/cmd/stream.start" {
		t.Errorf("CommandTopic = %q", got)
	}
	if got := SubscriptionFilter(TopicEvent); got != "fleet/v1/+/event" {
		t.Errorf("SubscriptionFilter = %q", got)
	}
	for _, k := range DeviceKinds {
		if kindOf(k.String()) != k {
			t.Errorf("kindOf(%q) != %v", k.String(), k)
		}
	}
}
