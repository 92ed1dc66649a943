package video

// HLSMuxing reports whether deviceID's live stream has an HLS muxer: the
// relay makes one only while HLS viewers come, which nothing outside the
// package can see but the CPU it costs.
func HLSMuxing(r *Relay, deviceID string) bool {
	r.mu.Lock()
	var st *stream
	if p := r.paths[deviceID]; p != nil {
		st = p.stream
	}
	r.mu.Unlock()
	if st == nil {
		return false
	}
	st.hlsMu.Lock()
	defer st.hlsMu.Unlock()
	return st.hls != nil
}
