package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Workspace is a workspace (group) the emulator knows. My workspace always exists.
type Workspace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CodeEntityNotFound is the live service's code for an unknown workspace id.
const CodeEntityNotFound = "PowerBIEntityNotFound"

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidWorkspaceID reports whether id is a uuid, the form of every workspace id.
func ValidWorkspaceID(id string) bool { return uuidPattern.MatchString(id) }

// groupJSON is a Group as Groups_GetGroups and Groups_CreateGroup return it.
type groupJSON struct {
	Context               string `json:"@odata.context,omitempty"`
	ID                    string `json:"id"`
	IsReadOnly            bool   `json:"isReadOnly"`
	IsOnDedicatedCapacity bool   `json:"isOnDedicatedCapacity"`
	Name                  string `json:"name"`
}

// CreateWorkspace adds a workspace with id (a uuid) and name; name "" means the id. Creating
// an existing id again only renames it.
func (s *Server) CreateWorkspace(id, name string) error {
	if !uuidPattern.MatchString(id) {
		return fmt.Errorf("workspace id %q is not a uuid", id)
	}
	if name == "" {
		name = id
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ws := s.workspaceLocked(id); ws != nil {
		ws.Name = name
		return nil
	}
	s.workspaces = append(s.workspaces, &Workspace{ID: strings.ToLower(id), Name: name})
	return nil
}

// Workspaces returns the workspaces in creation order.
func (s *Server) Workspaces() []Workspace {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Workspace, 0, len(s.workspaces))
	for _, ws := range s.workspaces {
		out = append(out, *ws)
	}
	return out
}

func (s *Server) workspaceLocked(id string) *Workspace {
	for _, ws := range s.workspaces {
		if strings.EqualFold(ws.ID, id) {
			return ws
		}
	}
	return nil
}

// checkGroup answers the request's {group}: 400 for a non-uuid, 404 PowerBIEntityNotFound for
// a workspace that does not exist. It reports whether the request may go on.
func (s *Server) checkGroup(w http.ResponseWriter, r *http.Request) bool {
	g := r.PathValue("group")
	if g == "" {
		return true
	}
	if !uuidPattern.MatchString(g) {
		badRequest("groupId", "The value '%s' is not valid for groupId: a workspace id is a uuid.", g).write(w)
		return false
	}
	s.mu.Lock()
	ws := s.workspaceLocked(g)
	s.mu.Unlock()
	if ws == nil {
		writePBIError(w, http.StatusNotFound, CodeEntityNotFound)
		return false
	}
	return true
}

// listGroups answers Groups_GetGroups, with $filter (name eq '…' and contains(name,'…'),
// joined by or), $top and $skip.
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	match, err := groupFilter(q.Get("$filter"))
	top, skip := -1, 0
	if err == nil {
		top, skip, err = topSkip(q.Get("$top"), q.Get("$skip"))
	}
	if err != nil {
		badRequest("$filter", "%v", err).write(w)
		return
	}
	out := []groupJSON{}
	for _, ws := range s.Workspaces() {
		if match(ws.Name) {
			out = append(out, groupJSON{ID: ws.ID, Name: ws.Name})
		}
	}
	out = out[min(skip, len(out)):]
	if top >= 0 && top < len(out) {
		out = out[:top]
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": odataBase(r) + "#groups", "value": out})
}

func topSkip(top, skip string) (int, int, error) {
	t, s := -1, 0
	var err error
	if top != "" {
		if t, err = strconv.Atoi(top); err != nil || t < 0 {
			return 0, 0, fmt.Errorf("$top must be a non-negative integer")
		}
	}
	if skip != "" {
		if s, err = strconv.Atoi(skip); err != nil || s < 0 {
			return 0, 0, fmt.Errorf("$skip must be a non-negative integer")
		}
	}
	return t, s, nil
}

var filterClause = regexp.MustCompile(`^\s*(?:name\s+eq\s+'((?:[^']|'')*)'|contains\(\s*name\s*,\s*'((?:[^']|'')*)'\s*\))\s*$`)

// groupFilter compiles the supported $filter forms into a name predicate.
func groupFilter(f string) (func(string) bool, error) {
	if strings.TrimSpace(f) == "" {
		return func(string) bool { return true }, nil
	}
	var preds []func(string) bool
	for _, clause := range regexp.MustCompile(`\s+or\s+`).Split(f, -1) {
		m := filterClause.FindStringSubmatch(clause)
		if m == nil {
			return nil, fmt.Errorf("$filter %q is not supported; the emulator supports name eq 'x' and contains(name,'x') joined by or", f)
		}
		eq, sub := strings.ReplaceAll(m[1], "''", "'"), strings.ReplaceAll(m[2], "''", "'")
		if strings.HasPrefix(strings.TrimSpace(clause), "name") {
			preds = append(preds, func(n string) bool { return n == eq })
		} else {
			preds = append(preds, func(n string) bool { return strings.Contains(n, sub) })
		}
	}
	return func(n string) bool {
		for _, p := range preds {
			if p(n) {
				return true
			}
		}
		return false
	}, nil
}

// createGroup answers Groups_CreateGroup (POST /groups[?workspaceV2=True]): 200 with the Group.
// Workspace names are unique: a second workspace of the same name is a 409.
func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("workspaceV2"); v != "" {
		if _, err := strconv.ParseBool(strings.ToLower(v)); err != nil {
			badRequest("workspaceV2", "workspaceV2 '%s' is not a boolean.", v).write(w)
			return
		}
	}
	body, aerr := s.readBody(w, r)
	var name string
	if aerr == nil {
		var m map[string]json.RawMessage
		if m, aerr = object(body, typeGroupCreation, "name"); aerr == nil {
			aerr = field(m, typeGroupCreation, "name", true, &name)
		}
	}
	if aerr == nil && strings.TrimSpace(name) == "" {
		aerr = badRequest("name", "The workspace name must not be empty.")
	}
	var ws Workspace
	if aerr == nil {
		ws, aerr = s.addWorkspace(name)
	}
	if aerr != nil {
		aerr.inBody("requestParameters").write(w)
		return
	}
	s.o.Logger.Info("workspace created", "id", ws.ID, "name", ws.Name)
	writeJSON(w, http.StatusOK, groupJSON{Context: odataBase(r) + "#groups/$entity", ID: ws.ID, Name: ws.Name})
}

func (s *Server) addWorkspace(name string) (Workspace, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ws := range s.workspaces {
		if strings.EqualFold(ws.Name, name) {
			return Workspace{}, &apiError{status: http.StatusConflict, code: "WorkspaceNameAlreadyExists",
				msg: fmt.Sprintf("A workspace named '%s' already exists.", name)}
		}
	}
	ws := &Workspace{ID: newID(), Name: name}
	s.workspaces = append(s.workspaces, ws)
	return *ws, nil
}
