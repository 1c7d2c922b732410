package sink

// remembered returns the id remembered for d, or "" (no store, nothing stored, or a read error).
func (c *Client) remembered(d *dataset) string {
	if c.store == nil {
		return ""
	}
	b, err := c.store.Meta(d.metaKey())
	if err != nil {
		c.log.Warn("read remembered dataset id", "dataset", d.cfg.Name, "err", err)
		return ""
	}
	return string(b)
}

// remember stores d's id; a failure only costs a lookup by name at the next start.
func (c *Client) remember(d *dataset, id string) {
	if c.store == nil || d.cfg.ID != "" {
		return
	}
	if err := c.store.SetMeta(d.metaKey(), []byte(id)); err != nil {
		c.log.Warn("remember dataset id", "dataset", d.cfg.Name, "err", err)
	}
}
