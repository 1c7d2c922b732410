package config

import (
	"errors"
	"fmt"
)

func (c *Config) validateDatasets(p *problems) {
	seen := map[string]int{}
	for i := range c.Datasets {
		d := &c.Datasets[i]
		path := fmt.Sprintf("datasets[%d]", i)
		if d.Name == "" {
			p.add(path+".name", "required")
		} else if j, dup := seen[d.Name]; dup {
			p.add(path+".name", "duplicate dataset name %q (also datasets[%d])", clip(d.Name), j)
		} else {
			seen[d.Name] = i
		}
		d.validate(p, path)
	}
}

func (d *Dataset) validate(p *problems, path string) {
	p.oneOf(path+".mode", d.Mode, "Push", "PushStreaming")
	p.oneOf(path+".retention", d.Retention, "None", "basicFIFO")
	d.Limits.validate(p, path+".limits")
	if len(d.Tables) == 0 {
		p.add(path+".tables", "at least one table is required")
	}
	if len(d.Tables) > MaxTables {
		p.add(path+".tables", "%d tables exceed Power BI's limit of %d per dataset", len(d.Tables), MaxTables)
	}
	seen := map[string]int{}
	for i := range d.Tables {
		t := &d.Tables[i]
		tp := fmt.Sprintf("%s.tables[%d]", path, i)
		if j, dup := seen[t.Name]; dup {
			p.add(tp+".name", "duplicate table name %q (also tables[%d])", clip(t.Name), j)
		}
		seen[t.Name] = i
		t.validate(p, tp)
	}
}

func (l *Limits) validate(p *problems, path string) {
	s := ServiceLimits
	for _, f := range []struct {
		key    string
		v, max int
	}{
		{"rows_per_post", l.RowsPerPost, s.RowsPerPost},
		{"posts_per_minute", l.PostsPerMinute, s.PostsPerMinute},
		{"rows_per_hour", l.RowsPerHour, s.RowsPerHour},
		{"pending_posts", l.PendingPosts, s.PendingPosts},
		{"posts_per_hour_large", l.PostsPerHourLarge, s.PostsPerHourLarge},
		{"large_table_rows", l.LargeTableRows, s.LargeTableRows},
	} {
		switch {
		case f.v < 0:
			p.add(path+"."+f.key, "must be positive (0 means Power BI's %d)", f.max)
		case f.v > f.max:
			p.add(path+"."+f.key, "%d exceeds Power BI's limit of %d", f.v, f.max)
		}
	}
}

func (t *Table) validate(p *problems, path string) {
	if err := CheckTableName(t.Name); err != nil {
		p.add(path+".name", "%v", err)
	}
	p.oneOf(path+".unknown_fields", t.UnknownFields, "ignore", "reject")
	p.oneOf(path+".on_long_string", t.OnLongString, "reject", "truncate")
	switch n := len(t.Columns); {
	case n == 0:
		p.add(path+".columns", "at least one column is required")
	case n > MaxColumns:
		p.add(path+".columns", "%d columns exceed Power BI's limit of %d per table", n, MaxColumns)
	}
	seen := map[string]int{}
	for i := range t.Columns {
		col := &t.Columns[i]
		cp := fmt.Sprintf("%s.columns[%d]", path, i)
		if j, dup := seen[col.Name]; dup {
			p.add(cp+".name", "duplicate column name %q (also columns[%d])", clip(col.Name), j)
		}
		seen[col.Name] = i
		col.validate(p, cp)
	}
}

func (c *Column) validate(p *problems, path string) {
	if err := CheckColumnName(c.Name); err != nil {
		p.add(path+".name", "%v", err)
	}
	typ, ok := CanonicalType(c.Type)
	if !ok {
		p.add(path+".type", "unknown type %q (want %s)", clip(c.Type), typeList)
	}
	p.oneOf(path+".timestamp", c.Timestamp, "ingest")
	p.oneOf(path+".unix", c.Unix, "s", "ms", "us", "ns")
	if !ok || typ == TypeDateTime {
		return
	}
	for _, f := range [][2]string{{"timestamp", c.Timestamp}, {"layout", c.Layout}, {"unix", c.Unix}} {
		if f[1] != "" {
			p.add(path+"."+f[0], "only allowed on a DateTime column (this one is %s)", typ)
		}
	}
}

// Validate checks one table on its own (as schema.Compile does), reporting every problem with
// its key path relative to the table, e.g. "columns[2].type: unknown type ...".
func (t *Table) Validate() error {
	p := &problems{c: &Config{}}
	t.validate(p, "table")
	return errors.Join(p.errs...)
}
