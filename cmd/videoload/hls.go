package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// viewHLS follows a low-latency HLS stream at the live edge as hls.js
// does in its low-latency mode: it downloads the part named by the
// playlist's preload hint (the server holds that request until the part
// is complete), then reloads the playlist with _HLS_msn and _HLS_part to
// learn the next hint, and fetches any listed part it missed. It parses
// the fMP4 parts to count frames; a frame "arrives" when the part that
// holds it has been downloaded.
func viewHLS(ctx context.Context, address string, st *viewerStats, onAU auFunc) error {
	// Its own connections, as a separate browser would have.
	tr := &http.Transport{MaxIdleConnsPerHost: 2}
	defer tr.CloseIdleConnections()
	h := &hlsSession{ctx: ctx, cl: &http.Client{Transport: tr, Timeout: 20 * time.Second}}

	body, u, err := h.get(address)
	if err != nil {
		return err
	}
	pl, err := playlist.Unmarshal(body)
	if err != nil {
		return fmt.Errorf("playlist %s: %w", u, err)
	}
	mediaURL := u
	if mv, ok := pl.(*playlist.Multivariant); ok {
		if len(mv.Variants) == 0 {
			return errors.New("multivariant playlist without variants")
		}
		mediaURL = h.resolve(u, mv.Variants[0].URI)
		if body, _, err = h.get(mediaURL.String()); err != nil {
			return err
		}
	}
	media, err := parseMedia(body)
	if err != nil {
		return err
	}
	if media.Map == nil || media.PartInf == nil {
		return errors.New("not a low-latency fMP4 playlist")
	}
	initBody, _, err := h.get(h.resolve(mediaURL, media.Map.URI).String())
	if err != nil {
		return err
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(initBody)); err != nil {
		return fmt.Errorf("init segment: %w", err)
	}
	video := 0
	for _, t := range init.Tracks {
		if _, ok := t.Codec.(*mp4codecs.H264); ok {
			video = t.ID
		}
	}
	if video == 0 {
		return errors.New("no H.264 track in the init segment")
	}
	st.sessions.Add(1)

	// Start at the live edge: the part the server is making now.
	next := hintPos(media)
	for ctx.Err() == nil {
		// Parts listed that were not fetched yet (after a stall).
		for _, p := range listParts(media) {
			if p.pos.before(next) {
				continue
			}
			if err := h.fetchPart(h.resolve(mediaURL, p.uri), video, st, onAU); err != nil {
				return err
			}
			next = p.pos.following()
		}
		if media.PreloadHint == nil {
			return errors.New("low-latency playlist without a preload hint")
		}
		// The hinted part: the server holds the request until the part
		// is complete, so it arrives as soon as it exists.
		hinted := hintPos(media)
		if err := h.fetchPart(h.resolve(mediaURL, media.PreloadHint.URI), video, st, onAU); err != nil {
			return err
		}
		next = hinted.following()
		// Blocking reload for the part just fetched, which the server
		// has: it answers at once with the playlist that lists it, and
		// names the next hint. (Asking for the part after it instead
		// would, at the end of a segment, make gohlslib v2.4.2 wait for
		// the whole next segment: its hasPart does not look at the
		// segment in progress.)
		q := mediaURL.Query()
		q.Set("_HLS_msn", strconv.Itoa(hinted.msn))
		q.Set("_HLS_part", strconv.Itoa(hinted.part))
		reload := *mediaURL
		reload.RawQuery = q.Encode()
		if body, _, err = h.get(reload.String()); err != nil {
			return err
		}
		if media, err = parseMedia(body); err != nil {
			return err
		}
	}
	return nil
}

// hintPos is where the playlist's preload hint is: the next part of the
// segment in progress, or the first part of the next segment.
func hintPos(m *playlist.Media) partPos {
	return partPos{m.MediaSequence + len(m.Segments), len(m.Parts)}
}

func (h *hlsSession) fetchPart(u *url.URL, video int, st *viewerStats, onAU auFunc) error {
	body, _, err := h.get(u.String())
	if err != nil {
		return err
	}
	return h.part(body, video, time.Now(), st, onAU)
}

type hlsSession struct {
	ctx context.Context
	cl  *http.Client
}

func (h *hlsSession) get(address string) ([]byte, *url.URL, error) {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, address, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := h.cl.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s: %.200s", req.URL.Path, resp.Status, body)
	}
	return body, req.URL, nil
}

// resolve makes a playlist's URI absolute. A relative URI without a query
// inherits the playlist's (the relay's token): that is what a player
// would have to do if the relay left it out, and harmless otherwise.
func (h *hlsSession) resolve(base *url.URL, ref string) *url.URL {
	r, err := url.Parse(ref)
	if err != nil {
		return base
	}
	u := base.ResolveReference(r)
	if r.RawQuery == "" && !r.IsAbs() {
		q := base.Query()
		q.Del("_HLS_msn")
		q.Del("_HLS_part")
		q.Del("_HLS_skip")
		u.RawQuery = q.Encode()
	}
	return u
}

// part counts the frames of one fMP4 part and hands each to onAU.
func (h *hlsSession) part(body []byte, video int, arrived time.Time, st *viewerStats, onAU auFunc) error {
	var ps fmp4.Parts
	if err := ps.Unmarshal(body); err != nil {
		return fmt.Errorf("part: %w", err)
	}
	for _, p := range ps {
		for _, t := range p.Tracks {
			if t.ID != video {
				continue
			}
			for _, s := range t.Samples {
				st.frames.Add(1)
				st.bytes.Add(int64(len(s.Payload)))
				if onAU != nil {
					var au h264.AVCC
					if err := au.Unmarshal(s.Payload); err == nil {
						onAU(au, arrived)
					}
				}
			}
		}
	}
	return nil
}

func parseMedia(body []byte) (*playlist.Media, error) {
	pl, err := playlist.Unmarshal(body)
	if err != nil {
		return nil, err
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		return nil, errors.New("expected a media playlist")
	}
	return m, nil
}

// partPos is a part's place: its segment's media sequence number and its
// index in the segment.
type partPos struct{ msn, part int }

func (a partPos) before(b partPos) bool {
	return a.msn < b.msn || (a.msn == b.msn && a.part < b.part)
}

// following is the next part. If the segment ends first, LL-HLS servers
// take a request for it as one for part 0 of the next segment.
func (a partPos) following() partPos { return partPos{a.msn, a.part + 1} }

type listedPart struct {
	pos partPos
	uri string
}

// listParts lists the parts of a playlist in order: those of complete
// segments that still list theirs, then those of the segment in progress.
func listParts(m *playlist.Media) []listedPart {
	var out []listedPart
	for i, seg := range m.Segments {
		for j, p := range seg.Parts {
			out = append(out, listedPart{partPos{m.MediaSequence + i, j}, p.URI})
		}
	}
	msn := m.MediaSequence + len(m.Segments)
	for j, p := range m.Parts {
		out = append(out, listedPart{partPos{msn, j}, p.URI})
	}
	return out
}
