package aad

import (
	"net/http"
	"strings"
)

// deviceCodeLifetime is the expires_in of a device code, in seconds.
const deviceCodeLifetime = 900

func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.DeviceCodes++ })
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") == "" {
		s.fail(w, oauthError{http.StatusBadRequest, "invalid_request", "AADSTS900144: client_id is required."})
		return
	}
	code := randomToken("fake-aad-dc.")
	user := strings.ToUpper(randomToken("")[:8])
	s.mu.Lock()
	s.devices[code] = &device{session: session{
		clientID: r.PostForm.Get("client_id"), user: s.opts.DeviceCodeUser,
		tenant: r.PathValue("tenant"), scope: r.PostForm.Get("scope"),
	}, pending: s.opts.DeviceCodePendingPolls}
	s.mu.Unlock()
	verify := baseURL(r) + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code": code, "user_code": user, "verification_uri": verify,
		"expires_in": deviceCodeLifetime, "interval": 1,
		"message": "To sign in, use a web browser to open the page " + verify + " and enter the code " + user + " to authenticate.",
	})
}

// deviceCodeGrant answers authorization_pending DeviceCodePendingPolls times, then a user token once.
func (s *Server) deviceCodeGrant(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.DeviceCodePolls++ })
	sess, e, ok := s.pollDevice(r.PostForm.Get("device_code"), r.PostForm.Get("client_id"))
	if !ok {
		s.fail(w, e)
		return
	}
	s.userToken(w, sess)
}

func (s *Server) pollDevice(code, clientID string) (session, oauthError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[code]
	switch {
	case !ok || d.used || d.clientID != clientID:
		return session{}, errBadDevice, false
	case d.pending > 0:
		d.pending--
		return session{}, errPending, false
	}
	d.used = true
	return d.session, oauthError{}, true
}
