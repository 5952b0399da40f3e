"""Tests for the mapping machinery (mappings/base.py) through the public map_record."""

import pytest

from handlers.base import Record, SourceSettings
from lead.fieldmap import merge_fields
from mappings import MappingError, check_field_map, default_fields, map_lead, map_record
from mappings.base import NotScalar, to_text


def source(type_="generic", fields=None, **kwargs):
    """A source of a type with `fields:` overrides."""
    return SourceSettings(name="s", type=type_, fields=fields or {}, **kwargs)


def lead(data, **kwargs):
    """Map a generic record built from `data`."""
    return map_record(source(**kwargs), Record(key=None, fields=data))


BASE = {"id": "L-1", "phone": "303-555-0142"}


def test_minimal_generic_lead():
    """Only what resolves is sent."""
    assert lead(BASE) == {"externId": "L-1", "leadPhone": "3035550142"}


@pytest.mark.parametrize(
    "name,first,last",
    [
        ("Ada Lovelace", "Ada", "Lovelace"),
        ("  Ada   King Lovelace ", "Ada", "King Lovelace"),
        ("José Ñúñez", "José", "Ñúñez"),
        ("王\u3000小明", "王", "小明"),
        ("王小明", "王小明", None),
    ],
)
def test_full_name_split(name, first, last):
    """Split on the first (Unicode) whitespace; one word is a first name; characters intact."""
    got = lead({**BASE, "name": name})
    assert got.get("firstName") == first and got.get("lastName") == last


@pytest.mark.parametrize("extra", [{"first_name": "Grace"}, {"last_name": "Hopper"}])
def test_full_name_unused_when_a_part_resolves(extra):
    """fullName is only a fallback when neither first nor last name resolved."""
    got = lead({**BASE, "name": "Ada Lovelace", **extra})
    assert "Ada" not in (got.get("firstName"), got.get("lastName"))
    assert got.get("firstName") in (None, "Grace") and got.get("lastName") in (None, "Hopper")


def test_blank_first_name_falls_back_to_full_name():
    """A blank first/last name counts as not resolved."""
    got = lead({**BASE, "first_name": " ", "last_name": "", "name": "Ada Lovelace"})
    assert (got["firstName"], got["lastName"]) == ("Ada", "Lovelace")


def test_fields_override_merges_key_by_key():
    """Source keys replace only their default; the rest of the default map stays."""
    fields = {"leadPhone": ["contact.cell", "contact.home"], "externId": "uuid", "zip": None}
    record = {
        "uuid": "u-9",
        "id": "ignored",
        "phone": "3035550100",
        "contact": {"cell": "720 555 0117", "home": "303 555 0142"},
        "email": "a@b.co",
        "zip": "80202",
    }
    got = lead(record, fields=fields)
    assert got == {"externId": "u-9", "leadPhone": "7205550117|3035550142", "email": "a@b.co"}
    assert default_fields("generic")["leadPhone"] == ["phone", "mobile"]  # defaults untouched


def test_first_resolving_path_wins_for_plain_fields():
    """A list of paths for a plain field: the first non-blank one."""
    got = lead({**BASE, "alt": "", "real": "Ada"}, fields={"firstName": ["alt", "missing", "real"]})
    assert got["firstName"] == "Ada"


def test_no_phone_names_lead_phone():
    """No dialable number: MappingError naming leadPhone and the fields looked at."""
    with pytest.raises(MappingError) as info:
        lead({"id": "1", "phone": ""})
    assert info.value.errors == {"leadPhone": ["no dialable phone number in phone, mobile"]}


def test_invalid_phone_counted_not_echoed():
    """The error says how many values were not numbers, without repeating them (PII)."""
    with pytest.raises(MappingError) as info:
        lead({"id": "1", "phone": "12345", "mobile": "n/a"})
    [message] = info.value.errors["leadPhone"]
    assert "2 value(s) not a valid number" in message and "12345" not in message


def test_missing_id_and_phone_reported_together():
    """Every missing required field is reported at once."""
    with pytest.raises(MappingError) as info:
        lead({"name": "Ada"})
    assert info.value.errors == {
        "externId": ["missing: id"],
        "leadPhone": ["no dialable phone number in phone, mobile"],
    }


def test_unknown_extra_fields_ignored():
    """Sender fields nobody mapped do not reach the lead or cause errors."""
    got = lead({**BASE, "favorite_color": "teal", "nested": {"deep": [1, 2]}})
    assert got == {"externId": "L-1", "leadPhone": "3035550142"}


@pytest.mark.parametrize(
    "value,expected", [("02139", "02139"), ("02139-4307", "02139-4307"), ("SW1A 1AA", "SW1A 1AA"), (80202, "80202")]
)
def test_zip_is_a_string(value, expected):
    """ZIP keeps leading zeros, ZIP+4 and UK postcodes; a JSON number becomes text."""
    assert lead({**BASE, "zip": value})["zip"] == expected


def test_numeric_extern_id_becomes_string():
    """Engage wants externId as a string; JSON numbers are converted."""
    assert lead({"id": 51234567, "phone": "3035550142"})["externId"] == "51234567"


def test_email_normalized_or_dropped():
    """Email is trimmed and lower-cased; a malformed one is dropped, not fatal."""
    assert lead({**BASE, "email": " Ada@Example.COM "})["email"] == "ada@example.com"
    assert "email" not in lead({**BASE, "email": "n/a"})


def test_aux_and_extended_only_when_configured():
    """auxData and extendedLeadData are filled only from the field map."""
    record = {**BASE, "utm": {"source": "google"}, "score": 87, "tags": ["a", "b"]}
    assert "extendedLeadData" not in lead(record) and "auxData1" not in lead(record)
    got = lead(
        record,
        fields={
            "auxData1": "utm.source",
            "auxData2": "tags",
            "extendedLeadData": {"score": "score", "campaign": ["utm.campaign", "utm.source"], "none": "missing"},
        },
    )
    assert got["auxData1"] == "google" and got["auxData2"] == "a, b"
    assert got["extendedLeadData"] == {"score": "87", "campaign": "google"}


def test_extensions_go_to_extended_lead_data():
    """The primary's extension is phoneExtension; another number's names that number."""
    got = lead({"id": "1", "phone": "(303) 555-0142 ext. 12", "mobile": "720-555-0117 x3"})
    assert got["leadPhone"] == "3035550142|7205550117"
    assert got["extendedLeadData"] == {"phoneExtension": "12", "phoneExtension_7205550117": "3"}


def test_phones_primary_only():
    """`phones: primary` sends the first number (and only its extension)."""
    got = lead({"id": "1", "phone": "303-555-0142", "mobile": "720-555-0117 x3"}, phones="primary")
    assert got["leadPhone"] == "3035550142" and "extendedLeadData" not in got


@pytest.mark.parametrize(
    "phones,e164,expected",
    [
        (["303-555-0142", "+44 20 7946 0958"], False, None),
        (["+44 (0)20 7946 0958", "303-555-0142"], False, "+442079460958"),
        (["303-555-0142"], True, "+13035550142"),
    ],
)
def test_lead_phone_e164(phones, e164, expected):
    """leadPhoneE164: the primary in E.164 when it is not NANP, or always with e164."""
    got = lead({"id": "1", "phone": phones}, e164=e164)
    assert got.get("leadPhoneE164") == expected


def test_default_region_from_source():
    """National numbers are read in the source's default region."""
    got = lead({"id": "1", "phone": "020 7946 0958"}, default_region="GB")
    assert got["leadPhone"] == "+442079460958" and got["leadPhoneE164"] == "+442079460958"


def test_unknown_type_uses_generic_defaults():
    """A type without a mapping module maps with the generic defaults."""
    got = map_record(source("no_mapping_type"), Record(key=None, fields={"id": "9", "mobile": "7205550117"}))
    assert got == {"externId": "9", "leadPhone": "7205550117"}
    assert default_fields("no_such_type") == default_fields("generic")
    assert default_fields("../etc") == default_fields("generic")


def test_default_maps():
    """The documented default maps per type."""
    assert default_fields("hubspot")["externId"] == ["vid", "hs_object_id", "id", "objectId"]
    assert default_fields("hubspot")["leadPhone"] == ["phone", "mobilephone"]
    assert default_fields("typeform")["externId"] == "token"
    assert default_fields("typeform")["fullName"] == "name"


def test_merge_fields_none_unmaps():
    """A `null` in `fields:` removes that default."""
    assert "email" not in merge_fields({"email": "email", "zip": "zip"}, {"email": None})


@pytest.mark.parametrize(
    "field_map,problems",
    [
        ({"leadPhone": ["a", "b"], "fullName": "n", "extendedLeadData": {"k": "v"}}, []),
        ({"fistName": "x"}, ["fistName: not an Engage lead field"]),
        ({"extendedLeadData": "x"}, ["extendedLeadData: must map Engage keys to sender fields"]),
        ({"zip": 5}, ["zip: must be a field name, a dotted path or a list of them"]),
    ],
)
def test_check_field_map(field_map, problems):
    """Config checks can report typos and bad shapes in `fields:`."""
    assert check_field_map(field_map) == problems


@pytest.mark.parametrize(
    "value,text",
    [
        (None, None),
        ("  ", None),
        (" a ", "a"),
        (2500, "2500"),
        (2500.0, "2500"),
        (2.5, "2.5"),
        (True, "true"),
        (["a", "", None, "b"], "a, b"),
        ({}, None),
    ],
)
def test_to_text(value, text):
    """Sender values become lead text consistently."""
    assert to_text(value) == text


@pytest.mark.parametrize("value", [{"a": "é"}, [{"a": 1}], ["a", ["b"]]])
def test_to_text_refuses_non_scalars(value):
    """An object is never turned into JSON text for a lead field."""
    with pytest.raises(NotScalar):
        to_text(value)


def warned(data, **kwargs):
    """Map a generic record built from `data`: (lead, warnings)."""
    return map_lead(source(**kwargs), Record(key=None, fields=data))


def test_object_in_a_text_field_is_left_out_with_the_path_to_use():
    """The default map sends `address` to address1: an object there is a warning, never `{"zip":…}` text.

    The lead keeps its phone and is loaded without the address (issue 19: an address never costs
    a dialable lead).
    """
    got, warnings = warned({**BASE, "address": {"zip": "80202", "street": "1600 Blake St"}})
    assert got == {"externId": "L-1", "leadPhone": "3035550142"}
    assert warnings == {
        "address1": ["address is an object, not text: map a scalar path instead (e.g. address.zip, address.street)"]
    }


def test_list_of_objects_in_a_text_field_is_left_out():
    """A list of objects is no more text than one object; a list of plain values is joined."""
    got, warnings = warned({**BASE, "city": [{"name": "Denver"}]})
    assert "city" not in got and got["leadPhone"] == "3035550142"
    assert warnings["city"] == [
        "city is a list of objects or lists, not text: map a scalar path instead (e.g. city.0 or city.0.<key>)"
    ]
    assert lead({**BASE, "city": ["Denver", "Boulder"]})["city"] == "Denver, Boulder"


def test_object_in_extended_lead_data_is_left_out():
    """extendedLeadData values are text too; the other keys stay."""
    got, warnings = warned(
        {**BASE, "utm": {"source": "ads"}, "camp": "spring"},
        fields={"extendedLeadData": {"utm": "utm", "campaign": "camp"}},
    )
    assert got["extendedLeadData"] == {"campaign": "spring"}
    assert warnings["extendedLeadData.utm"][0].startswith("utm is an object, not text")
    assert lead({**BASE, "utm": {"source": "ads"}}, fields={"extendedLeadData": {"utm": "utm.source"}})[
        "extendedLeadData"
    ] == {"utm": "ads"}


def test_object_as_extern_id_says_why_not_missing():
    """A non-scalar id is reported as such, not as a missing id."""
    with pytest.raises(MappingError) as caught:
        lead({"id": {"value": 7}, "phone": "303-555-0142"})
    assert caught.value.errors["externId"] == ["id is an object, not text: map a scalar path instead (e.g. id.value)"]


def test_required_fields_stay_fatal_and_optional_errors_ride_along():
    """Without a dialable phone the record is invalid; the optional fields' reasons are reported with it."""
    with pytest.raises(MappingError) as caught:
        lead({"id": "L-1", "phone": "nope", "address": {"zip": "80202"}})
    assert set(caught.value.errors) == {"leadPhone"}


@pytest.mark.parametrize(
    "given,sent",
    [
        ("ＡＤＡ@ＥＸＡＭＰＬＥ.ＣＯＭ", "ada@example.com"),  # full-width (issue 18 item 11)
        ("ada\uff20example.com", "ada@example.com"),  # a full-width at sign only
        ("Ada@Example.com", "ada@example.com"),
    ],
)
def test_email_is_nfkc_normalised_before_mapping(given, sent):
    """Compatibility forms become the address people type, so Engage and `leads forget --email` match it."""
    got, warnings = warned({**BASE, "email": given})
    assert got["email"] == sent and warnings == {}


@pytest.mark.parametrize(
    "email,why",
    [
        ("a" * 65 + "@example.com", "local part longer than 64 characters (RFC 5321): left out"),
        ("a@" + "b" * 250 + ".com", "longer than 254 characters (RFC 5321): left out"),
        ("not-an-email", "not a valid email address: left out"),
    ],
)
def test_email_over_rfc_5321_lengths_is_dropped_with_a_warning(email, why):
    """An email too long for RFC 5321 (or malformed) is left out with the reason; the lead stays."""
    got, warnings = warned({**BASE, "email": email})
    assert "email" not in got and got["leadPhone"] == "3035550142"
    assert warnings == {"email": [why]}


def test_longest_allowed_email_is_kept():
    """64 characters of local part and 254 in all are still an email."""
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + "." + "c" * 6
    assert len(email) == 254
    got, warnings = warned({**BASE, "email": email})
    assert got["email"] == email and warnings == {}
