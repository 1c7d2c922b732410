package emulator

import (
	"encoding/json"
	"strings"
)

// datasetModes maps accepted defaultMode values to canonical names and whether rows can be pushed.
func datasetMode(s string) (mode string, push bool, ok bool) {
	switch strings.ToLower(s) {
	case "", "push":
		return "Push", true, true
	case "pushstreaming":
		return "PushStreaming", true, true
	case "streaming":
		return "Streaming", true, true
	case "asazure":
		return "AsAzure", false, true
	case "asonprem":
		return "AsOnPrem", false, true
	}
	return "", false, false
}

// enumValue returns the value of allowed that v names case-insensitively: enum values are
// case-insensitive live (the official dataset-properties example sends "bothDirections").
func enumValue(v string, allowed ...string) (string, bool) {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a, true
		}
	}
	return "", false
}

// retentionPolicy canonicalises defaultRetentionPolicy ("" = None).
func retentionPolicy(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "", "none":
		return RetentionNone, true
	case "basicfifo":
		return RetentionBasicFIFO, true
	}
	return "", false
}

// parseDataset decodes and validates a CreateDatasetRequest.
func parseDataset(body []byte, o Options) (*dataset, *apiError) {
	m, err := object(body, typeDataset, "name", "tables", "defaultMode", "relationships", "datasources")
	if err != nil {
		return nil, err
	}
	var name, mode string
	var tables, rels []json.RawMessage
	if err := firstErr(field(m, typeDataset, "name", true, &name), field(m, typeDataset, "tables", true, &tables),
		field(m, typeDataset, "defaultMode", false, &mode), field(m, typeDataset, "relationships", false, &rels)); err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) == "" {
		return nil, badRequest("name", "Dataset name must not be empty.")
	}
	d := &dataset{name: name}
	var ok bool
	if d.mode, d.push, ok = datasetMode(mode); !ok {
		return nil, badRequest("defaultMode", "defaultMode '%s' is not supported.", mode)
	}
	if d.tables, err = parseTables(tables, o); err != nil {
		return nil, err
	}
	if len(rels) > o.MaxRelationships {
		return nil, badRequest("relationships", "A dataset can have at most %d relationships.", o.MaxRelationships)
	}
	for _, raw := range rels {
		if err := checkRelationship(raw, d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func parseTables(raws []json.RawMessage, o Options) ([]*table, *apiError) {
	if len(raws) == 0 || len(raws) > o.MaxTables {
		return nil, badRequest("tables", "A dataset needs 1 to %d tables; got %d.", o.MaxTables, len(raws))
	}
	seen := map[string]bool{}
	out := make([]*table, 0, len(raws))
	for _, raw := range raws {
		t, err := parseTable(raw, o.MaxColumns)
		if err != nil {
			return nil, err
		}
		if seen[strings.ToLower(t.name)] {
			return nil, badRequest(t.name, "Duplicate table name '%s'.", t.name)
		}
		seen[strings.ToLower(t.name)] = true
		out = append(out, t)
	}
	return out, nil
}

func checkRelationship(raw json.RawMessage, d *dataset) *apiError {
	m, err := object(raw, typeRelationship, "name", "fromTable", "fromColumn", "toTable", "toColumn", "crossFilteringBehavior")
	if err != nil {
		return err
	}
	var name, ft, fc, tt, tc, cf string
	if err := firstErr(field(m, typeRelationship, "name", true, &name),
		field(m, typeRelationship, "fromTable", true, &ft), field(m, typeRelationship, "fromColumn", true, &fc),
		field(m, typeRelationship, "toTable", true, &tt), field(m, typeRelationship, "toColumn", true, &tc),
		field(m, typeRelationship, "crossFilteringBehavior", false, &cf)); err != nil {
		return err
	}
	if _, ok := enumValue(cf, "OneDirection", "BothDirections", "Automatic"); !ok && cf != "" {
		return badRequest(name, "crossFilteringBehavior '%s' is not supported.", cf)
	}
	for _, end := range [][2]string{{ft, fc}, {tt, tc}} {
		t := d.table(end[0])
		if t == nil || t.index[end[1]] == "" {
			return badRequest(name, "Relationship '%s' refers to unknown column '%s'[%s].", name, end[0], end[1])
		}
	}
	return nil
}
