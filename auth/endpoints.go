package auth

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// endpoints is where and for what tokens are requested.
type endpoints struct {
	authority string // authority host + "/" + tenant
	scope     string
	discovery bool // MSAL instance discovery (only for Microsoft cloud hosts)
}

// microsoftHosts are authority hosts MSAL's instance discovery knows; any other host (a fake, a
// private endpoint) must have discovery disabled or MSAL calls login.microsoftonline.com to validate it.
var microsoftHosts = []string{
	"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net",
	"login.microsoftonline.us", "login.usgovcloudapi.net", "login.chinacloudapi.cn",
	"login.partner.microsoftonline.cn", "login.microsoftonline.de",
}

// resolveEndpoints applies auth.authority_url / auth.scope over the cloud's values.
func resolveEndpoints(cloud string, a config.Auth, tenant string) (endpoints, error) {
	if cloud == "" {
		cloud = "public"
	}
	c, ok := config.Clouds[cloud]
	if !ok {
		return endpoints{}, fmt.Errorf("powerbi.cloud %q is not one of %s", cloud, strings.Join(cloudNames(), ", "))
	}
	host := strings.TrimRight(firstNonEmpty(a.AuthorityURL, c.Authority), "/")
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return endpoints{}, fmt.Errorf("auth.authority_url %q must be an https URL such as https://login.microsoftonline.us", host)
	}
	return endpoints{
		authority: host + "/" + tenant,
		scope:     firstNonEmpty(a.Scope, c.Scope),
		discovery: slices.Contains(microsoftHosts, strings.ToLower(u.Hostname())),
	}, nil
}

func cloudNames() []string {
	names := make([]string, 0, len(config.Clouds))
	for n := range config.Clouds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// withWorkloadEnv fills tenant, client id, token file and authority from the variables the Azure
// Workload Identity webhook injects, where the config leaves them empty.
func withWorkloadEnv(a config.Auth) config.Auth {
	a.Tenant = firstNonEmpty(a.Tenant, os.Getenv("AZURE_TENANT_ID"))
	a.ClientID = firstNonEmpty(a.ClientID, os.Getenv("AZURE_CLIENT_ID"))
	a.FederatedTokenFile = firstNonEmpty(a.FederatedTokenFile, os.Getenv("AZURE_FEDERATED_TOKEN_FILE"))
	a.AuthorityURL = firstNonEmpty(a.AuthorityURL, os.Getenv("AZURE_AUTHORITY_HOST"))
	return a
}
