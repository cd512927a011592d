include "/etc/passwd"

rule After_Include { condition: true }
