package sink

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/schema"
)

// dataset is one configured dataset and its resolved id.
type dataset struct {
	cfg    config.Dataset
	tables []schema.TableDef // config order
	byName map[string]schema.TableDef

	resolveMu sync.Mutex // serialises resolution (lookup, create, re-resolve)
	dupWarned string     // ids of the same-name datasets last warned about (under resolveMu)
	mu        sync.Mutex // guards id
	id        string
}

func newDataset(cfg config.Dataset) (*dataset, error) {
	d := &dataset{cfg: cfg, byName: make(map[string]schema.TableDef)}
	for _, t := range cfg.Tables {
		def, err := tableDef(t)
		if err != nil {
			return nil, fmt.Errorf("dataset %q: %w", cfg.Name, err)
		}
		d.tables = append(d.tables, def)
		d.byName[def.Name] = def
	}
	return d, nil
}

func (d *dataset) getID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.id
}

func (d *dataset) setID(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.id = id
}

// metaKey is the MetaStore key remembering the dataset's id.
func (d *dataset) metaKey() string { return "dataset/" + d.cfg.Name + "/id" }

// mode is the dataset's defaultMode (Push unless configured).
func (d *dataset) mode() string {
	if strings.EqualFold(d.cfg.Mode, "PushStreaming") {
		return "PushStreaming"
	}
	return "Push"
}

// retention is the dataset's defaultRetentionPolicy (None unless configured).
func (d *dataset) retention() string {
	if strings.EqualFold(d.cfg.Retention, "basicFIFO") {
		return "basicFIFO"
	}
	return "None"
}

// tableDef is the Power BI definition of a configured table (canonical type names).
func tableDef(t config.Table) (schema.TableDef, error) {
	ct, err := schema.Compile(t)
	if err != nil {
		return schema.TableDef{}, err
	}
	return ct.Def(), nil
}

// canonicalType maps the service's case-insensitive type names and aliases onto canonical ones,
// so that a column the service lists as "int64" or "bool" matches Int64 or Boolean.
func canonicalType(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "int64":
		return "Int64"
	case "double":
		return "Double"
	case "decimal":
		return "Decimal"
	case "boolean", "bool":
		return "Boolean"
	case "datetime":
		return "DateTime"
	case "string":
		return "String"
	}
	return s
}

// DatasetID returns the resolved Power BI id of a configured dataset ("" before Prepare).
func (c *Client) DatasetID(name string) string {
	d, ok := c.sets[name]
	if !ok {
		return ""
	}
	return d.getID()
}
