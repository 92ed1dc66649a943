package video

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// Many encoders (ffmpeg's RTSP muxer among them) send the H.264/H.265
// parameter sets only in the SDP, not in the stream. The HLS muxer needs
// them inside the first random-access unit to time it and to write its
// init file, so they are put back in front of every random-access unit
// that lacks them. In-band sets replace the SDP ones as they come.

// h264Params remembers the latest SPS and PPS of a stream.
type h264Params struct{ sps, pps []byte }

func (p *h264Params) complete(au [][]byte) [][]byte {
	var idr, hasSPS, hasPPS bool
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			p.sps, hasSPS = n, true
		case h264.NALUTypePPS:
			p.pps, hasPPS = n, true
		case h264.NALUTypeIDR:
			idr = true
		}
	}
	if !idr || (hasSPS && hasPPS) || p.sps == nil || p.pps == nil {
		return au
	}
	out := make([][]byte, 0, len(au)+2)
	if !hasSPS {
		out = append(out, p.sps)
	}
	if !hasPPS {
		out = append(out, p.pps)
	}
	return append(out, au...)
}

// h265Params remembers the latest VPS, SPS and PPS of a stream.
type h265Params struct{ vps, sps, pps []byte }

func (p *h265Params) complete(au [][]byte) [][]byte {
	var rap, hasVPS, hasSPS, hasPPS bool
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			p.vps, hasVPS = n, true
		case h265.NALUType_SPS_NUT:
			p.sps, hasSPS = n, true
		case h265.NALUType_PPS_NUT:
			p.pps, hasPPS = n, true
		case h265.NALUType_IDR_W_RADL, h265.NALUType_IDR_N_LP, h265.NALUType_CRA_NUT:
			rap = true
		}
	}
	if !rap || (hasVPS && hasSPS && hasPPS) || p.vps == nil || p.sps == nil || p.pps == nil {
		return au
	}
	out := make([][]byte, 0, len(au)+3)
	if !hasVPS {
		out = append(out, p.vps)
	}
	if !hasSPS {
		out = append(out, p.sps)
	}
	if !hasPPS {
		out = append(out, p.pps)
	}
	return append(out, au...)
}

// randomAccess reports whether an access unit starts a picture sequence.
func randomAccessH264(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}

func randomAccessH265(au [][]byte) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_IDR_W_RADL, h265.NALUType_IDR_N_LP, h265.NALUType_CRA_NUT:
			return true
		}
	}
	return false
}
