package sink

import (
	"fmt"
	"strings"
)

// ChangeKind is one kind of difference between the configuration and the service.
type ChangeKind string

// Change kinds. CreateDataset and AddColumn are additive; the others are destructive
// (MissingTable cannot be applied at all: the API cannot add a table to an existing dataset).
const (
	CreateDataset ChangeKind = "create-dataset"
	AddColumn     ChangeKind = "add-column"
	ChangeType    ChangeKind = "change-type"
	RemoveColumn  ChangeKind = "remove-column"
	MissingTable  ChangeKind = "missing-table"
)

// Change is one difference found by Plan.
type Change struct {
	Kind    ChangeKind
	Dataset string // config name
	Table   string // "" for CreateDataset
	Column  string // AddColumn, ChangeType, RemoveColumn
	From    string // ChangeType: the service's type; RemoveColumn: the removed column's type
	To      string // AddColumn, ChangeType: the configured type
}

// Destructive reports whether applying c may lose data or is impossible in place.
func (c Change) Destructive() bool {
	return c.Kind != CreateDataset && c.Kind != AddColumn
}

func (c Change) String() string {
	switch c.Kind {
	case CreateDataset:
		return fmt.Sprintf("+ dataset %q: create (with all configured tables)", c.Dataset)
	case AddColumn:
		return fmt.Sprintf("+ %q/%q: add column %q %s", c.Dataset, c.Table, c.Column, c.To)
	case ChangeType:
		return fmt.Sprintf("! %q/%q: column %q type %s -> %s (destructive)", c.Dataset, c.Table, c.Column, c.From, c.To)
	case RemoveColumn:
		return fmt.Sprintf("- %q/%q: remove column %q %s (destructive)", c.Dataset, c.Table, c.Column, c.From)
	case MissingTable:
		return fmt.Sprintf("! %q/%q: table missing from the existing dataset (cannot be added)", c.Dataset, c.Table)
	}
	return fmt.Sprintf("? %q/%q: %s", c.Dataset, c.Table, c.Kind)
}

// refusal explains why changes cannot be applied, or "" when they can.
func refusal(changes []Change, allowDestructive bool) string {
	var lines []string
	missing, destructive := false, false
	for _, ch := range changes {
		switch {
		case ch.Kind == MissingTable:
			missing = true
			lines = append(lines, ch.String())
		case ch.Destructive() && !allowDestructive:
			destructive = true
			lines = append(lines, ch.String())
		}
	}
	if len(lines) == 0 {
		return ""
	}
	if missing {
		lines = append(lines, "the Power BI API cannot add a table to an existing push dataset: "+
			"a new dataset is needed (rename the dataset in the configuration, or delete the old one yourself)")
	}
	if destructive {
		lines = append(lines, "type changes and removed columns may lose data; review them with "+
			"`pbi-pusher schema plan -config FILE` and apply them with "+
			"`pbi-pusher schema apply -config FILE -allow-destructive`")
	}
	return strings.Join(lines, "\n")
}
