package subst_test

import (
	"fmt"

	"airlock.dev/airlock/internal/subst"
)

func ExampleExpand() {
	values := map[string]string{
		"Password": `p"&<>'`,
		"Env":      "Production",
		"Debug":    "False",
		"Hosts":    "web1,web2",
	}
	tmpl := `<add key="Db" value="#{Password | XmlEscape}" />
{"password": "#{Password | JsonEscape}"}
env=#{Env | ToLower}#{if Env == "Production"} (live)#{/if}
#{unless Debug}optimised#{else}debug#{/unless}
#{each h in Hosts}#{h}#{unless each.Last},#{/unless}#{/each}
`
	out, err := subst.Expand([]byte(tmpl), func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	})
	fmt.Print(string(out), err)
	// Output:
	// <add key="Db" value="p&quot;&amp;&lt;&gt;&apos;" />
	// {"password": "p\"&<>'"}
	// env=production (live)
	// optimised
	// web1,web2
	// <nil>
}

func ExampleRefs() {
	refs, err := subst.Refs([]byte("#{if Tls}#{Cert | Trim}#{/if}\n#{each h in Hosts}#{h}#{/each}"))
	fmt.Println(refs, err)
	_, err = subst.Refs([]byte("#{Password | XmlEscpe}"))
	fmt.Println(err)
	// Output:
	// [{Tls 1 1} {Cert 1 10} {Hosts 2 1}] <nil>
	// line 1:14: "#{Password | XmlEscpe}": unknown filter "XmlEscpe" (want one of JsonEscape, XmlEscape, HtmlEscape, UriEscape, UriDataEscape, YamlSingleQuoteEscape, YamlDoubleQuoteEscape, PropertiesKeyEscape, PropertiesValueEscape, ToBase64 (or Base64Encode), ToLower, ToUpper, Trim, Replace)
}
