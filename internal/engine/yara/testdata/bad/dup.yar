rule Dup { condition: false }
rule Dup { condition: false }
