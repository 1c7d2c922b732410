package emulator

import (
	"net/http"
	"slices"
)

// datasetJSON is a Dataset as the service returns it.
type datasetJSON struct {
	Context                          string `json:"@odata.context,omitempty"`
	ID                               string `json:"id"`
	Name                             string `json:"name"`
	AddRowsAPIEnabled                bool   `json:"addRowsAPIEnabled"`
	ConfiguredBy                     string `json:"configuredBy"`
	IsRefreshable                    bool   `json:"isRefreshable"`
	IsEffectiveIdentityRequired      bool   `json:"isEffectiveIdentityRequired"`
	IsEffectiveIdentityRolesRequired bool   `json:"isEffectiveIdentityRolesRequired"`
	IsOnPremGatewayRequired          bool   `json:"isOnPremGatewayRequired"`
	DefaultRetentionPolicy           string `json:"defaultRetentionPolicy"`
	DefaultMode                      string `json:"defaultMode"`
}

const configuredBy = "emulator@pbi-pusher.invalid"

func (d *dataset) json(ctx string) datasetJSON {
	return datasetJSON{Context: ctx, ID: d.id, Name: d.name, AddRowsAPIEnabled: d.push,
		ConfiguredBy: configuredBy, DefaultRetentionPolicy: d.retention, DefaultMode: d.mode}
}

func (s *Server) createDataset(w http.ResponseWriter, r *http.Request) {
	retention, ok := retentionPolicy(r.URL.Query().Get("defaultRetentionPolicy"))
	if !ok {
		badRequest("defaultRetentionPolicy", "defaultRetentionPolicy '%s' is not supported; use None or basicFIFO.",
			r.URL.Query().Get("defaultRetentionPolicy")).write(w)
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr == nil {
		var d *dataset
		if d, aerr = parseDataset(body, s.o); aerr == nil {
			d.id, d.workspace, d.retention = newID(), workspace(r), retention
			s.add(d)
			s.o.Logger.Info("dataset created", "id", d.id, "name", d.name, "mode", d.mode, "retention", retention)
			writeJSON(w, http.StatusCreated, d.json(odataBase(r)+"#datasets/$entity"))
			return
		}
	}
	aerr.inBody("dataset").write(w)
}

func (s *Server) add(d *dataset) {
	d.postsMin, d.postsHour, d.rowsHour = newWindow(minute), newWindow(hour), newWindow(hour)
	d.stats.throttles, d.stats.violations = map[string]int64{}, map[string]int64{}
	s.mu.Lock()
	defer s.mu.Unlock()
	d.created = s.o.Now()
	s.datasets = append(s.datasets, d)
}

func (s *Server) listDatasets(w http.ResponseWriter, r *http.Request) {
	ws := workspace(r)
	s.mu.Lock()
	out := []datasetJSON{}
	for _, d := range s.datasets {
		if d.workspace == ws {
			out = append(out, d.json(""))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": odataBase(r) + "#datasets", "value": out})
}

func (s *Server) getDataset(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d := s.findLocked(r)
	var body datasetJSON
	if d != nil {
		body = d.json(odataBase(r) + "#datasets/$entity")
	}
	s.mu.Unlock()
	if d == nil {
		datasetNotFound(r).write(w)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) deleteDataset(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d := s.findLocked(r)
	if d != nil {
		s.datasets = slices.DeleteFunc(s.datasets, func(x *dataset) bool { return x == d })
	}
	s.mu.Unlock()
	if d == nil {
		datasetNotFound(r).write(w)
		return
	}
	s.o.Logger.Info("dataset deleted", "id", d.id, "name", d.name)
	w.WriteHeader(http.StatusOK)
}

func datasetNotFound(r *http.Request) *apiError {
	return notFound("Couldn't find dataset '%s'.", r.PathValue("id"))
}
