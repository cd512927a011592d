import "elf"

rule Elf_Module_Rule
{
    meta:
        virus_name = "Linux.Test.ElfModule"
        risk_level = "RISK_LOW"
    condition:
        elf.type == elf.ET_EXEC or elf.type == elf.ET_DYN
}
