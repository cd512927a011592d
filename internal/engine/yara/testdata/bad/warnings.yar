import "pe"

rule Signed_Check
{
    meta:
        risk_level = "SEVERE"
    condition:
        pe.number_of_signatures > 0
}
