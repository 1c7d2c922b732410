package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/pbi-pusher/pbi-pusher/schema"
)

// ErrSchemaRefused marks a schema change that was refused (destructive, or impossible in place).
var ErrSchemaRefused = errors.New("schema change refused")

// Prepare resolves (by id, else by name) or creates every configured dataset and PUTs tables whose
// columns differ additively. It returns a fatal error (auth rejected, dataset unusable, a
// destructive schema difference) as is.
func (c *Client) Prepare(ctx context.Context) error {
	for _, name := range c.order {
		if err := c.prepare(ctx, c.sets[name]); err != nil {
			return err
		}
	}
	return nil
}

// PrepareDataset is Prepare for the configured dataset name alone.
func (c *Client) PrepareDataset(ctx context.Context, name string) error {
	d, ok := c.sets[name]
	if !ok {
		return &Error{Op: fmt.Sprintf("prepare dataset %q", name), Class: Fatal, Message: "dataset not configured"}
	}
	return c.prepare(ctx, d)
}

// prepare resolves or creates one dataset and brings its tables up to date additively.
func (c *Client) prepare(ctx context.Context, d *dataset) error {
	d.resolveMu.Lock()
	id, created, err := c.resolve(ctx, d, true)
	d.resolveMu.Unlock()
	if err != nil || created {
		return err
	}
	changes, err := c.planDataset(ctx, d, id)
	if err != nil {
		return err
	}
	if msg := refusal(changes, false); msg != "" {
		return refusedError(d, msg)
	}
	return c.applyTables(ctx, d, id, changes)
}

// Plan compares every configured dataset with the service without changing anything.
func (c *Client) Plan(ctx context.Context) ([]Change, error) {
	var out []Change
	for _, name := range c.order {
		d := c.sets[name]
		d.resolveMu.Lock()
		id, err := c.lookup(ctx, d)
		d.resolveMu.Unlock()
		if err != nil {
			return nil, err
		}
		if id == "" {
			out = append(out, Change{Kind: CreateDataset, Dataset: name})
			continue
		}
		d.setID(id)
		changes, err := c.planDataset(ctx, d, id)
		if err != nil {
			return nil, err
		}
		out = append(out, changes...)
	}
	return out, nil
}

// planDataset lists the differences of dataset id's tables.
func (c *Client) planDataset(ctx context.Context, d *dataset, id string) ([]Change, error) {
	remote, err := c.getTables(ctx, d, id)
	if err != nil {
		return nil, err
	}
	return c.diffTables(d, remote), nil
}

// Apply carries out changes from Plan: it creates missing datasets and PUTs changed tables.
// Without allowDestructive it applies the additive changes only (new datasets, new columns: a
// table is PUT with the service's existing columns and types kept) and then refuses the
// destructive ones with ErrSchemaRefused naming them; with it, every change. A missing table is
// always refused (the API cannot add one to an existing dataset); the rest is applied.
func (c *Client) Apply(ctx context.Context, changes []Change, allowDestructive bool) error {
	for _, ch := range changes {
		if c.sets[ch.Dataset] == nil {
			return fmt.Errorf("apply schema changes: dataset %q is not configured", ch.Dataset)
		}
	}
	var possible []Change
	for _, ch := range changes {
		if ch.Kind != MissingTable {
			possible = append(possible, ch)
		}
	}
	for _, name := range c.order {
		mine := changesFor(possible, name)
		if len(mine) == 0 {
			continue
		}
		if err := c.applyDataset(ctx, c.sets[name], mine, allowDestructive); err != nil {
			return err
		}
	}
	if msg := refusal(changes, allowDestructive); msg != "" {
		return &Error{Op: "apply schema changes", Class: Fatal, Message: msg, Err: ErrSchemaRefused}
	}
	return nil
}

// applyDataset creates the dataset or PUTs its changed tables (additively unless destructive).
func (c *Client) applyDataset(ctx context.Context, d *dataset, changes []Change, destructive bool) error {
	create := changes[0].Kind == CreateDataset
	id, err := c.ensure(ctx, d, create)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("apply changes to dataset %q: dataset not found; run plan again", d.cfg.Name)
	}
	if create {
		return nil
	}
	if destructive {
		return c.applyTables(ctx, d, id, changes)
	}
	return c.applyAdditive(ctx, d, id, changes)
}

// applyAdditive PUTs each table that gains columns, keeping every column the service has with
// its type (retyped and removed columns stay as they are: those changes are refused).
func (c *Client) applyAdditive(ctx context.Context, d *dataset, id string, changes []Change) error {
	done := make(map[string]bool)
	for _, ch := range changes {
		if ch.Kind != AddColumn || done[ch.Table] {
			continue
		}
		done[ch.Table] = true
		def, ok := d.byName[ch.Table]
		if !ok {
			return fmt.Errorf("apply changes to %q/%q: table not configured", d.cfg.Name, ch.Table)
		}
		if err := c.putTable(ctx, d, id, additiveDef(def, changes)); err != nil {
			return err
		}
		c.log.Info("added columns to table", "dataset", d.cfg.Name, "table", ch.Table)
	}
	return nil
}

// additiveDef is the configured table def with only its additive changes: a retyped column keeps
// the service's type and a removed column is kept.
func additiveDef(def schema.TableDef, changes []Change) schema.TableDef {
	retyped := map[string]string{}
	var kept []schema.ColumnDef
	for _, ch := range changes {
		if ch.Table != def.Name {
			continue
		}
		switch ch.Kind {
		case ChangeType:
			retyped[ch.Column] = ch.From
		case RemoveColumn:
			kept = append(kept, schema.ColumnDef{Name: ch.Column, DataType: ch.From})
		}
	}
	out := schema.TableDef{Name: def.Name, Columns: make([]schema.ColumnDef, 0, len(def.Columns)+len(kept))}
	for _, col := range def.Columns {
		if from, ok := retyped[col.Name]; ok {
			col.DataType = from
		}
		out.Columns = append(out.Columns, col)
	}
	out.Columns = append(out.Columns, kept...)
	return out
}

// applyTables PUTs the configured definition of each table named in changes, once per table.
func (c *Client) applyTables(ctx context.Context, d *dataset, id string, changes []Change) error {
	done := make(map[string]bool)
	for _, ch := range changes {
		if ch.Table == "" || done[ch.Table] {
			continue
		}
		done[ch.Table] = true
		def, ok := d.byName[ch.Table]
		if !ok {
			return fmt.Errorf("apply changes to %q/%q: table not configured", d.cfg.Name, ch.Table)
		}
		if err := c.putTable(ctx, d, id, def); err != nil {
			return err
		}
		c.log.Info("updated table schema", "dataset", d.cfg.Name, "table", ch.Table)
	}
	return nil
}

// changesFor returns the changes of dataset name.
func changesFor(changes []Change, name string) []Change {
	var out []Change
	for _, ch := range changes {
		if ch.Dataset == name {
			out = append(out, ch)
		}
	}
	return out
}

// refusedError is Prepare's refusal of a dataset whose schema differs destructively.
func refusedError(d *dataset, msg string) error {
	return &Error{Op: fmt.Sprintf("prepare dataset %q", d.cfg.Name), Class: Fatal, Message: msg, Err: ErrSchemaRefused,
		Hint: "run `pbi-pusher schema plan -config FILE` to see every difference"}
}
