// Package mqttbroker is the embedded MQTT broker (mochi-mqtt) that devices
// connect to when no external broker is configured, and the HTTP hooks
// with which an external broker (Mosquitto with mosquitto-go-auth, EMQX)
// asks the service the same questions: may this client connect, may it
// publish or subscribe to this topic.
//
// Both apply one rule set: a device connects with client id = username =
// its device id and its secret as password (checked by a
// DeviceAuthenticator, the register), and the topic ACL of package
// devices. Service clients get full access with the internal credential.
// The broker hands device messages to a Handler in-process (an inline
// subscription: no network hop, no QoS 1 acknowledgements).
//
// It imports the domain (fleet, devices), mochi and Prometheus; never
// ingest itself or a store.
package mqttbroker

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/internal/logthrottle"
)

// DeviceAuthenticator checks a device's credentials; an error with code
// fleet.EUNAUTHORIZED (or fleet.ENOTFOUND) means refused, any other error
// that the register could not answer. fleet.Register implements it.
type DeviceAuthenticator interface {
	AuthenticateDevice(ctx context.Context, id, secret string) (fleet.Device, error)
}

// Handler takes device messages (ingest.Pipeline implements it). Handle
// may block to push back; it returns an error when it gives up on m.
type Handler interface {
	Handle(ctx context.Context, m devices.Message) error
}

// DefaultInternalUsername is the username of service clients. A colon
// can never be in a device id, so no device can claim it.
const DefaultInternalUsername = "fleet:internal"

// Config configures the broker. Zero values take the defaults.
type Config struct {
	Addr              string        // TCP listen address, e.g. ":1883" or "127.0.0.1:0"; "" serves no TCP (in-process only)
	InternalUsername  string        // default DefaultInternalUsername
	InternalSecret    string        // service clients' password; "" generates a random one at New
	AuthTimeout       time.Duration // one credential check; default 5s
	MaxConcurrentAuth int           // credential checks under way at once; more wait up to AuthTimeout; default 64
	MaxPacketBytes    int           // larger packets disconnect the client; default 4 × devices.MaxPayloadBytes
	SessionExpiry     time.Duration // how long a disconnected persistent session is kept; default 24h
	MaxPendingWrites  int           // messages queued for sending to one client; more are dropped (and counted by mochi); default 64
	ShutdownGrace     time.Duration // Close waits this long for the Handler to take in-flight messages; default 10s
	LogEvery          time.Duration // refusals are logged at most once per reason per this; default 1m
}

func (c Config) withDefaults() Config {
	if c.InternalUsername == "" {
		c.InternalUsername = DefaultInternalUsername
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = 5 * time.Second
	}
	if c.MaxConcurrentAuth <= 0 {
		c.MaxConcurrentAuth = 64
	}
	if c.MaxPacketBytes <= 0 {
		c.MaxPacketBytes = 4 * devices.MaxPayloadBytes
	}
	if c.SessionExpiry <= 0 {
		c.SessionExpiry = 24 * time.Hour
	}
	if c.MaxPendingWrites <= 0 {
		c.MaxPendingWrites = 64
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.LogEvery <= 0 {
		c.LogEvery = time.Minute
	}
	return c
}

// Refusal reasons (the reason label of fleet_mqtt_refused_total).
const (
	RefusedCredentials    = "bad_credentials"  // unknown device, wrong secret, wrong internal secret
	RefusedIdentity       = "bad_identity"     // username not a device id, or client id ≠ username
	RefusedWill           = "will_acl"         // will message on a topic the device may not publish to
	RefusedAuthBusy       = "auth_busy"        // too many credential checks under way
	RefusedUnavailable    = "auth_unavailable" // the register could not answer
	RefusedPublish        = "publish_acl"      // publish outside the device's topics
	RefusedSubscribe      = "subscribe_acl"    // subscribe outside the device's cmd/ topics
	RefusedPacketTooLarge = "packet_too_large" // packet over MaxPacketBytes
	RefusedBadRequest     = "bad_request"      // HTTP hooks: a request that does not parse
)

// Broker is the embedded MQTT broker.
type Broker struct {
	cfg     Config
	auth    DeviceAuthenticator
	handler Handler
	log     *slog.Logger
	srv     *mqtt.Server
	tcp     *listeners.TCP
	sem     chan struct{}
	secret  []byte

	ctx    context.Context // of the Handler calls; canceled by Close after ShutdownGrace
	cancel context.CancelFunc

	startOnce, closeOnce sync.Once
	addr                 atomic.Value // string: the listener's address once serving
	// watched is set once a service client asked to read a topic (see
	// allowed): from then on device messages take mochi's way to the
	// subscribers, which now include it, instead of the short cut in
	// hook.OnPublish.
	watched atomic.Bool

	m    *metrics
	logs *logthrottle.Throttle
}

// New returns a broker that authenticates devices with auth and hands
// their messages to h. reg (may be nil) gets its metrics.
func New(cfg Config, auth DeviceAuthenticator, h Handler, reg prometheus.Registerer, logger *slog.Logger) (*Broker, error) {
	if auth == nil || h == nil {
		return nil, errors.New("mqttbroker: a device authenticator and a handler are required")
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "mqttbroker")
	secret := cfg.InternalSecret
	if secret == "" {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("mqttbroker: internal secret: %w", err)
		}
		secret = hex.EncodeToString(b[:])
	}
	m := newMetrics()
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(cfg.MaxPacketBytes)
	caps.MaximumSessionExpiryInterval = uint32(cfg.SessionExpiry / time.Second)
	// mochi gives every client an outbound queue of this many packet
	// pointers, allocated at connect: its default, 8,192, is 64 KB per
	// client, which the garbage collector scans on every cycle whether
	// empty or not. A device receives only the odd command, so a short
	// queue does; with 100,000 devices the default alone would be 6.4 GB
	// of buffers (see BENCHMARKS.md, "Telemetry ingest").
	caps.MaximumClientWritesPending = int32(cfg.MaxPendingWrites)
	srv := mqtt.New(&mqtt.Options{
		InlineClient:           true,
		Capabilities:           caps,
		SysTopicResendInterval: 60,
		// mochi logs a warning per refused connection and per bad
		// packet; we count and log those ourselves, throttled.
		Logger: slog.New(minLevel{logger.Handler(), slog.LevelError}).With("lib", "mochi"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg: cfg, auth: auth, handler: h, log: logger, srv: srv,
		sem:    make(chan struct{}, cfg.MaxConcurrentAuth),
		secret: []byte(secret),
		ctx:    ctx, cancel: cancel,
		m:    m,
		logs: logthrottle.New(cfg.LogEvery),
	}
	if err := srv.AddHook(&hook{b: b}, nil); err != nil {
		cancel()
		return nil, fmt.Errorf("mqttbroker: add hook: %w", err)
	}
	clients := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleet_mqtt_broker_clients", Help: "Clients connected to the embedded broker.",
	}, func() float64 { return float64(atomic.LoadInt64(&srv.Info.ClientsConnected)) })
	if err := register(reg, m.refused, m.connects, m.dropped, clients); err != nil {
		cancel()
		return nil, err
	}
	return b, nil
}

// InternalCredentials are the username and password with which service
// clients (e.g. an ingest.mqtt consumer) get full access.
func (b *Broker) InternalCredentials() (username, password string) {
	return b.cfg.InternalUsername, string(b.secret)
}

// Start opens the TCP listener (if configured), subscribes the Handler to
// the device topics and starts serving. It returns once the broker is
// serving; Close stops it.
func (b *Broker) Start(ctx context.Context) error {
	err := errors.New("mqttbroker: already started")
	b.startOnce.Do(func() { err = b.start(ctx) })
	return err
}

func (b *Broker) start(_ context.Context) error {
	if b.cfg.Addr != "" {
		b.tcp = listeners.NewTCP(listeners.Config{ID: "tcp", Address: b.cfg.Addr})
		if err := b.srv.AddListener(b.tcp); err != nil {
			return fmt.Errorf("mqttbroker: listen on %s: %w", b.cfg.Addr, err)
		}
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("mqttbroker: serve: %w", err)
	}
	for i, kind := range devices.DeviceKinds {
		if err := b.srv.Subscribe(devices.SubscriptionFilter(kind), i+1, b.deliver); err != nil {
			return fmt.Errorf("mqttbroker: subscribe %s: %w", kind, err)
		}
	}
	if b.tcp != nil {
		b.addr.Store(b.tcp.Address())
	}
	b.log.Info("MQTT broker serving", "addr", b.Addr())
	return nil
}

// Run starts the broker and serves until ctx is done, then closes it.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return b.Close()
}

// Addr is the TCP listener's address once Start succeeded ("" before, or
// without a listener); with port 0 in Config.Addr it tells the port chosen.
func (b *Broker) Addr() string {
	a, _ := b.addr.Load().(string)
	return a
}

// Publish sends a message from the service, e.g. a command on
// devices.CommandTopic. It bypasses the ACL.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if err := b.srv.Publish(topic, payload, retain, qos); err != nil {
		return fmt.Errorf("mqttbroker: publish %s: %w", topic, err)
	}
	return nil
}

// Close stops the listener and disconnects every client. Messages being
// handed to the Handler get up to ShutdownGrace; so stop the broker before
// the pipeline behind the Handler.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		grace := time.AfterFunc(b.cfg.ShutdownGrace, b.cancel)
		defer grace.Stop()
		if err := b.srv.Close(); err != nil {
			b.log.Error("MQTT broker close", "error", err)
		}
		b.cancel()
	})
	return nil
}

// deliver is the inline subscription, the way device messages reach the
// Handler while a service client subscribes too (and the way of the will
// messages mochi sends for a device): it runs on the goroutine of the
// publishing client, after mochi acknowledged a QoS 1 publish, so a
// blocking Handler slows that one device's connection down (TCP
// back-pressure) without touching the others.
func (b *Broker) deliver(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
	t, err := devices.ParseTopic(pk.TopicName)
	if err != nil || t.Kind == devices.TopicCommand {
		b.m.dropped.WithLabelValues("topic").Inc()
		return
	}
	b.handle(t, pk.Payload)
}

// handle hands a device message to the Handler; false when the Handler
// gave up on it (counted and logged).
func (b *Broker) handle(t devices.Topic, payload []byte) bool {
	m := devices.Message{DeviceID: t.DeviceID, Kind: t.Kind, Payload: payload, Received: time.Now()}
	if err := b.handler.Handle(b.ctx, m); err != nil {
		b.m.dropped.WithLabelValues("handler").Inc()
		b.logs.Log(b.log, slog.LevelWarn, "handler", time.Now(), "message dropped: handler gave up",
			"device", t.DeviceID, "kind", t.Kind.String(), "error", err)
		return false
	}
	return true
}

// authenticate checks a CONNECT.
func (b *Broker) authenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(cl.Properties.Username)
	if user == b.cfg.InternalUsername {
		if subtle.ConstantTimeCompare(pk.Connect.Password, b.secret) == 1 {
			return true
		}
		b.refuse(RefusedCredentials, cl, "")
		return false
	}
	switch {
	case !devices.ValidDeviceID(user) || cl.ID != user:
		b.refuse(RefusedIdentity, cl, "")
		return false
	case pk.Connect.WillFlag && !devices.MayPublish(user, pk.Connect.WillTopic):
		b.refuse(RefusedWill, cl, pk.Connect.WillTopic)
		return false
	}

	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.AuthTimeout)
	defer cancel()
	select {
	case b.sem <- struct{}{}:
		defer func() { <-b.sem }()
	case <-ctx.Done():
		b.refuse(RefusedAuthBusy, cl, "")
		return false
	}
	_, err := b.auth.AuthenticateDevice(ctx, user, string(pk.Connect.Password))
	switch code := fleet.ErrorCode(err); code {
	case "":
		b.m.connects.Inc()
		return true
	case fleet.EUNAUTHORIZED, fleet.ENOTFOUND:
		b.refuse(RefusedCredentials, cl, "")
	default:
		b.refuse(RefusedUnavailable, cl, "")
		b.logs.Log(b.log, slog.LevelError, "auth-error", time.Now(), "device authentication failed",
			"device", user, "error", err)
	}
	return false
}

// allowed applies the ACL to a publish (write) or to a subscription
// filter or delivered topic (read).
func (b *Broker) allowed(cl *mqtt.Client, topic string, write bool) bool {
	if string(cl.Properties.Username) == b.cfg.InternalUsername {
		if !write {
			b.watched.Store(true)
		}
		return true
	}
	// cl.ID is the device id: authenticate made sure it equals the username.
	if write {
		if devices.MayPublish(cl.ID, topic) {
			return true
		}
		b.refuse(RefusedPublish, cl, topic)
		return false
	}
	if devices.MaySubscribe(cl.ID, topic) {
		return true
	}
	b.refuse(RefusedSubscribe, cl, topic)
	return false
}

func (b *Broker) refuse(reason string, cl *mqtt.Client, topic string) {
	b.m.refused.WithLabelValues(reason).Inc()
	args := []any{"reason", reason, "client", truncate(cl.ID), "remote", cl.Net.Remote}
	if topic != "" {
		args = append(args, "topic", truncate(topic))
	}
	b.logs.Log(b.log, slog.LevelWarn, reason, time.Now(), "MQTT client refused", args...)
}

func truncate(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}

// hook plugs the rules into mochi.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "fleet" }

func (h *hook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnDisconnect || b == mqtt.OnPublish
}

func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return h.b.authenticate(cl, pk)
}

func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return h.b.allowed(cl, topic, write)
}

// OnPublish keeps the retain flag of a device's publish on its state topic
// only: the broker keeps no other device message in memory.
//
// It also hands a device's message to the Handler itself, and tells mochi
// to skip its subscription index (CodeSuccessIgnore: acknowledge, retain
// nothing, deliver to no one), as long as no service client may be
// reading device topics: the index lookup and the maps it allocates, to
// find the one inline subscription every time, were 8 % of fleetd's CPU
// at 20,000 messages a second. Devices may subscribe only to their own
// command topics, so they miss nothing; a retained state and a device's
// publish on its own command topic still go mochi's way. Unlike the inline
// subscription this runs before a QoS 1 publish is acknowledged, so a
// message the Handler gives up on (at shutdown) is not acknowledged and
// the device sends it again.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || string(cl.Properties.Username) == h.b.cfg.InternalUsername {
		return pk, nil
	}
	if pk.FixedHeader.Retain && !strings.HasSuffix(pk.TopicName, "/state") {
		pk.FixedHeader.Retain = false
	}
	if pk.FixedHeader.Retain || h.b.watched.Load() {
		return pk, nil
	}
	// mochi checked the ACL: a topic of the device's own.
	t, err := devices.ParseTopic(pk.TopicName)
	if err != nil || t.Kind == devices.TopicCommand {
		return pk, nil
	}
	if !h.b.handle(t, pk.Payload) && pk.FixedHeader.Qos > 0 {
		return pk, packets.ErrRejectPacket
	}
	return pk, packets.CodeSuccessIgnore
}

func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		h.b.refuse(RefusedPacketTooLarge, cl, "")
	}
}

// minLevel drops records under min: mochi's per-client warnings.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
