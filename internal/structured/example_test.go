package structured_test

import (
	"fmt"

	"airlock.dev/airlock/internal/structured"
)

func ExampleReplace() {
	appsettings := []byte(`{
  "Logging": {"LogLevel": {"Default": "Warning"}},
  "Kestrel": {"Limits": {"MaxConcurrentConnections": 100}},
  "Hosts": ["a", "b"]
}
`)
	res, err := structured.Replace("appsettings.json", appsettings, map[string]string{
		"logging:loglevel:default":                "Debug",
		"Kestrel:Limits:MaxConcurrentConnections": "250",
		"Hosts:1": `c"d`,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(res.Data))
	for _, a := range res.Applied {
		fmt.Printf("%s → %s (line %d)\n", a.Name, a.Path, a.Line)
	}
	// Output:
	// {
	//   "Logging": {"LogLevel": {"Default": "Debug"}},
	//   "Kestrel": {"Limits": {"MaxConcurrentConnections": 250}},
	//   "Hosts": ["a", "c\"d"]
	// }
	// logging:loglevel:default → Logging:LogLevel:Default (line 2)
	// Kestrel:Limits:MaxConcurrentConnections → Kestrel:Limits:MaxConcurrentConnections (line 3)
	// Hosts:1 → Hosts:1 (line 4)
}

func ExampleReplace_xml() {
	webConfig := []byte(`<configuration>
  <appSettings>
    <add key="DbPassword" value="changeme" />
  </appSettings>
</configuration>
`)
	res, err := structured.Replace("web.config", webConfig, map[string]string{
		"/configuration/appSettings/add[@key='DbPassword']/@value": `p"&<>'`,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(res.Data))
	// Output:
	// <configuration>
	//   <appSettings>
	//     <add key="DbPassword" value="p&quot;&amp;&lt;&gt;&apos;" />
	//   </appSettings>
	// </configuration>
}
