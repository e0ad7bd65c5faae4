//! The phone-number table: numbers in the formats SIP and T-Library carry, each with the place
//! its dialling code gives or the class the UK numbering plan gives. Places are checked by
//! name against the embedded data; the expected names were read off Ofcom's and libphonenumber's
//! area names, one row per dialling-code length (2-digit 02x, 3-digit 011x/01x1, 4-digit 01xxx,
//! 5-digit mixed areas) and Northern Ireland's 028 ranges.

use iotw_enrich::geotag::Geotag;
use iotw_enrich::phone::{parse, Dialling};

enum Want {
    /// Place name and E.164 digits.
    Geo(&'static str, &'static str),
    Class(&'static str),
    NotANumber,
}
use Want::*;

const TABLE: &[(&str, Want)] = &[
    ("02062601815", Geo("London", "442062601815")),
    ("+441132830166", Geo("Leeds", "441132830166")),
    ("0044 1142 218609", Geo("Sheffield", "441142218609")),
    ("441153909960", Geo("Nottingham", "441153909960")),
    ("901162824628", Geo("Leicester", "441162824628")),
    ("(0117) 748-2199", Geo("Bristol", "441177482199")),
    ("tel:+44-118-6518190", Geo("Reading", "441186518190")),
    ("01215786579", Geo("Birmingham", "441215786579")),
    ("+441314432319", Geo("Edinburgh", "441314432319")),
    ("0044 141 2757491", Geo("Glasgow", "441412757491")),
    ("441512625276", Geo("Liverpool", "441512625276")),
    ("901615895559", Geo("Manchester", "441615895559")),
    ("(01912) 771-147", Geo("Tyneside", "441912771147")),
    ("tel:+44-2380-704974", Geo("Southampton", "442380704974")),
    ("02392650752", Geo("Portsmouth", "442392650752")),
    ("+442476770342", Geo("Coventry", "442476770342")),
    ("0044 2890 566712", Geo("Belfast", "442890566712")),
    ("442920484268", Geo("Cardiff", "442920484268")),
    ("901224356321", Geo("Aberdeen", "441224356321")),
    ("(01223) 333-079", Geo("Cambridge", "441223333079")),
    ("tel:+44-1865-440268", Geo("Oxford", "441865440268")),
    ("01904795289", Geo("York", "441904795289")),
    ("+441752578666", Geo("Plymouth", "441752578666")),
    ("0044 1392 376031", Geo("Exeter", "441392376031")),
    ("441273221590", Geo("Brighton", "441273221590")),
    ("901603692815", Geo("Norwich", "441603692815")),
    ("(01472) 713-962", Geo("Grimsby", "441472713962")),
    ("tel:+44-1482-259571", Geo("Kingston-upon-Hull", "441482259571")),
    ("01522377741", Geo("Lincoln", "441522377741")),
    ("+441202254728", Geo("Bournemouth", "441202254728")),
    ("0044 1225 885280", Geo("Bath", "441225885280")),
    ("441242341485", Geo("Cheltenham", "441242341485")),
    ("901452738885", Geo("Gloucester", "441452738885")),
    ("(01905) 393-363", Geo("Worcester", "441905393363")),
    ("tel:+44-1432-575004", Geo("Hereford", "441432575004")),
    ("01743439575", Geo("Shrewsbury", "441743439575")),
    ("+441782431373", Geo("Stoke-on-Trent", "441782431373")),
    ("0044 1332 779907", Geo("Derby", "441332779907")),
    ("441246311637", Geo("Chesterfield", "441246311637")),
    ("901302751676", Geo("Doncaster", "441302751676")),
    ("(01709) 622-202", Geo("Rotherham", "441709622202")),
    ("tel:+44-1226-329975", Geo("Barnsley", "441226329975")),
    ("01924682001", Geo("Wakefield", "441924682001")),
    ("+441484363304", Geo("Huddersfield", "441484363304")),
    ("0044 1422 683954", Geo("Halifax", "441422683954")),
    ("441274820579", Geo("Bradford", "441274820579")),
    ("901723668282", Geo("Scarborough", "441723668282")),
    ("(01642) 807-290", Geo("Middlesbrough", "441642807290")),
    ("tel:+44-1325-622791", Geo("Darlington", "441325622791")),
    ("01429858887", Geo("Hartlepool", "441429858887")),
    ("+441228280334", Geo("Carlisle", "441228280334")),
    ("0044 1539 787801", Geo("Kendal", "441539787801")),
    ("441524798983", Geo("Lancaster", "441524798983")),
    ("901253378878", Geo("Blackpool", "441253378878")),
    ("(01772) 548-372", Geo("Preston", "441772548372")),
    ("tel:+44-1204-567513", Geo("Bolton", "441204567513")),
    ("01942334125", Geo("Wigan", "441942334125")),
    ("+441925527316", Geo("Warrington", "441925527316")),
    ("0044 1244 432686", Geo("Chester", "441244432686")),
    ("441270235515", Geo("Crewe", "441270235515")),
    ("901492487706", Geo("Colwyn Bay", "441492487706")),
    ("(01248) 894-811", Geo("Bangor (Gwynedd)", "441248894811")),
    ("tel:+44-1286-811440", Geo("Caernarfon", "441286811440")),
    ("01970342646", Geo("Aberystwyth", "441970342646")),
    ("+441792489751", Geo("Swansea", "441792489751")),
    ("0044 1267 726140", Geo("Carmarthen", "441267726140")),
    ("441633441931", Geo("Newport", "441633441931")),
    ("901873470586", Geo("Abergavenny", "441873470586")),
    ("(01685) 320-831", Geo("Merthyr Tydfil", "441685320831")),
    ("tel:+44-1443-602344", Geo("Pontypridd", "441443602344")),
    ("01656447824", Geo("Bridgend", "441656447824")),
    ("+441446640008", Geo("Barry", "441446640008")),
    ("0044 1382 787371", Geo("Dundee", "441382787371")),
    ("441738778684", Geo("Perth", "441738778684")),
    ("901786435326", Geo("Stirling", "441786435326")),
    ("(01324) 320-146", Geo("Falkirk", "441324320146")),
    ("tel:+44-1592-316849", Geo("Kirkcaldy", "441592316849")),
    ("01383507224", Geo("Dunfermline", "441383507224")),
    ("+441334345585", Geo("St Andrews", "441334345585")),
    ("0044 1463 443520", Geo("Inverness", "441463443520")),
    ("441343317483", Geo("Elgin", "441343317483")),
    ("901397501412", Geo("Fort William", "441397501412")),
    ("(01631) 706-044", Geo("Oban", "441631706044")),
    ("tel:+44-1292-519829", Geo("Ayr", "441292519829")),
    ("01563272492", Geo("Kilmarnock", "441563272492")),
    ("+441387668288", Geo("Dumfries", "441387668288")),
    ("0044 1776 393100", Geo("Stranraer", "441776393100")),
    ("441856716780", Geo("Orkney", "441856716780")),
    ("901595583740", Geo("Lerwick, Foula & Fair Isle", "441595583740")),
    ("(01624) 788-181", Geo("Isle of Man", "441624788181")),
    ("tel:+44-1534-341433", Geo("Jersey", "441534341433")),
    ("01481876174", Geo("Guernsey", "441481876174")),
    ("+441983493192", Geo("Isle of Wight", "441983493192")),
    ("0044 1227 549920", Geo("Canterbury", "441227549920")),
    ("441304474137", Geo("Dover", "441304474137")),
    ("901303647771", Geo("Folkestone", "441303647771")),
    ("(01843) 541-704", Geo("Thanet", "441843541704")),
    ("tel:+44-1622-387463", Geo("Maidstone", "441622387463")),
    ("01634491284", Geo("Medway", "441634491284")),
    ("+441732398415", Geo("Sevenoaks", "441732398415")),
    ("0044 1892 576020", Geo("Tunbridge Wells", "441892576020")),
    ("441293564265", Geo("Crawley", "441293564265")),
    ("901483815055", Geo("Guildford", "441483815055")),
    ("(01252) 413-044", Geo("Aldershot", "441252413044")),
    ("tel:+44-1256-566915", Geo("Basingstoke", "441256566915")),
    ("01962704104", Geo("Winchester", "441962704104")),
    ("+441722334685", Geo("Salisbury", "441722334685")),
    ("0044 1793 360688", Geo("Swindon", "441793360688")),
    ("441249706792", Geo("Chippenham", "441249706792")),
    ("901373570822", Geo("Frome", "441373570822")),
    ("(01823) 554-444", Geo("Taunton", "441823554444")),
    ("tel:+44-1278-347861", Geo("Bridgwater", "441278347861")),
    ("01935313878", Geo("Yeovil", "441935313878")),
    ("+441305357628", Geo("Dorchester", "441305357628")),
    ("0044 1297 412581", Geo("Axminster", "441297412581")),
    ("441803754930", Geo("Torquay", "441803754930")),
    ("901626466836", Geo("Newton Abbot", "441626466836")),
    ("(01837) 307-495", Geo("Okehampton", "441837307495")),
    ("tel:+44-1271-583143", Geo("Barnstaple", "441271583143")),
    ("01872276402", Geo("Truro", "441872276402")),
    ("+441736579701", Geo("Penzance", "441736579701")),
    ("0044 1208 377313", Geo("Bodmin", "441208377313")),
    ("441326881718", Geo("Falmouth", "441326881718")),
    ("901234702390", Geo("Bedford", "441234702390")),
    ("(01582) 224-861", Geo("Luton", "441582224861")),
    ("tel:+44-1727-448936", Geo("St Albans", "441727448936")),
    ("01707590084", Geo("Welwyn Garden City", "441707590084")),
    ("+441992653783", Geo("Lea Valley", "441992653783")),
    ("0044 1279 306400", Geo("Bishops Stortford", "441279306400")),
    ("441245461436", Geo("Chelmsford", "441245461436")),
    ("901206770565", Geo("Colchester", "441206770565")),
    ("(01473) 330-481", Geo("Ipswich", "441473330481")),
    ("tel:+44-1284-334337", Geo("Bury St Edmunds", "441284334337")),
    ("01502341979", Geo("Lowestoft", "441502341979")),
    ("+441493576092", Geo("Great Yarmouth", "441493576092")),
    ("0044 1553 230926", Geo("Kings Lynn", "441553230926")),
    ("441945226751", Geo("Wisbech", "441945226751")),
    ("901733253287", Geo("Peterborough", "441733253287")),
    ("(01480) 265-572", Geo("Huntingdon", "441480265572")),
    ("tel:+44-1604-214156", Geo("Northampton", "441604214156")),
    ("01536236546", Geo("Kettering", "441536236546")),
    ("+441908373587", Geo("Milton Keynes", "441908373587")),
    ("0044 1296 857063", Geo("Aylesbury", "441296857063")),
    ("441494806071", Geo("High Wycombe", "441494806071")),
    ("901628443195", Geo("Maidenhead", "441628443195")),
    ("(01753) 459-045", Geo("Slough", "441753459045")),
    ("tel:+44-1344-209103", Geo("Bracknell", "441344209103")),
    ("01635376467", Geo("Newbury", "441635376467")),
    ("+441235320429", Geo("Abingdon", "441235320429")),
    ("0044 1295 657591", Geo("Banbury", "441295657591")),
    ("441789762361", Geo("Stratford-upon-Avon", "441789762361")),
    ("901926578852", Geo("Warwick", "441926578852")),
    ("(01788) 214-913", Geo("Rugby", "441788214913")),
    ("tel:+44-1827-577232", Geo("Tamworth", "441827577232")),
    ("01543493814", Geo("Cannock", "441543493814")),
    ("+441902394544", Geo("Wolverhampton", "441902394544")),
    ("0044 1922 432332", Geo("Walsall", "441922432332")),
    ("441384335164", Geo("Dudley", "441384335164")),
    ("901562283170", Geo("Kidderminster", "441562283170")),
    ("(01527) 473-750", Geo("Redditch", "441527473750")),
    ("tel:+44-1386-310399", Geo("Evesham", "441386310399")),
    ("01684458279", Geo("Malvern", "441684458279")),
    ("+441531219953", Geo("Ledbury", "441531219953")),
    ("0044 1600 252034", Geo("Monmouth", "441600252034")),
    ("441497330565", Geo("Hay-on-Wye", "441497330565")),
    ("901597641307", Geo("Llandrindod Wells", "441597641307")),
    ("(01938) 316-168", Geo("Welshpool", "441938316168")),
    ("tel:+44-1691-412646", Geo("Oswestry", "441691412646")),
    ("01978560495", Geo("Wrexham", "441978560495")),
    ("+441745305366", Geo("Rhyl", "441745305366")),
    ("0044 1352 562611", Geo("Mold", "441352562611")),
    ("441824257220", Geo("Ruthin", "441824257220")),
    ("901766426199", Geo("Porthmadog", "441766426199")),
    ("(01341) 622-542", Geo("Barmouth", "441341622542")),
    ("tel:+44-1758-411673", Geo("Pwllheli", "441758411673")),
    ("01407707509", Geo("Holyhead", "441407707509")),
    ("+441387361923", Geo("Langholm", "441387361923")),
    ("0044 15394 69372", Geo("Hawkshead", "441539469372")),
    ("441539550682", Geo("Grange-over-Sands", "441539550682")),
    ("901539621233", Geo("Sedbergh", "441539621233")),
    ("(016973) 605-16", Geo("Wigton", "441697360516")),
    ("tel:+44-16974-68464", Geo("Raughton Head", "441697468464")),
    ("01697766657", Geo("Brampton", "441697766657")),
    ("+441768352009", Geo("Appleby", "441768352009")),
    ("0044 17684 83797", Geo("Pooley Bridge", "441768483797")),
    ("441768737611", Geo("Keswick", "441768737611")),
    ("901946766517", Geo("Gosforth", "441946766517")),
    ("(02871) 800-215", Geo("Londonderry", "442871800215")),
    ("tel:+44-2870-210862", Geo("Coleraine", "442870210862")),
    ("02837491327", Geo("Armagh", "442837491327")),
    ("+442830331594", Geo("Newry", "442830331594")),
    ("0044 2866 694724", Geo("Enniskillen", "442866694724")),
    ("442882339498", Geo("Omagh", "442882339498")),
    ("902825350326", Geo("Ballymena", "442825350326")),
    ("(02892) 856-241", Geo("Lisburn", "442892856241")),
    ("tel:+44-2891-605788", Geo("Bangor (Co. Down)", "442891605788")),
    ("01946548654", Geo("Whitehaven", "441946548654")),
    ("+441768592551", Geo("Penrith", "441768592551")),
    ("0044 1748 429048", Geo("Richmond", "441748429048")),
    ("441848395003", Geo("Thornhill", "441848395003")),
    ("901948296685", Geo("Whitchurch", "441948296685")),
    ("(01676) 273-900", Geo("Meriden", "441676273900")),
    ("tel:+44-1544-495418", Geo("Kington", "441544495418")),
    ("02822336949", Geo("Northern Ireland", "442822336949")),
    ("07700 900123", Class("mobile")),
    ("+447911123456", Class("mobile")),
    ("447400123456", Class("mobile")),
    ("07624 123456", Class("mobile")),
    ("00447700900999", Class("mobile")),
    ("907700900456", Class("mobile")),
    ("0300 123 4567", Class("non_geographic")),
    ("03001234567", Class("non_geographic")),
    ("+443457000000", Class("non_geographic")),
    ("0333 0000000", Class("non_geographic")),
    ("0800 123 4567", Class("freephone")),
    ("08081570123", Class("freephone")),
    ("0808 157 0192", Class("freephone")),
    ("0800 123456", Class("freephone")),
    ("0500 123456", Class("freephone")),
    ("0845 000 0000", Class("special")),
    ("0870 123 4567", Class("special")),
    ("08712345678", Class("special")),
    ("0906 123 4567", Class("premium")),
    ("09098790000", Class("premium")),
    ("07012 345678", Class("personal")),
    ("07600 123456", Class("pager")),
    ("05601 234567", Class("corporate")),
    ("05512345678", Class("corporate")),
    ("+1 212 555 0100", Class("international")),
    ("0033 1 23 45 67 89", Class("international")),
    ("+353 1 234 5678", Class("international")),
    ("+49 30 1234567", Class("international")),
    ("0061 2 9876 5432", Class("international")),
    ("+7 495 123 45 67", Class("international")),
    ("+86 10 1234 5678", Class("international")),
    ("+91 22 1234 5678", Class("international")),
    ("anonymous", Class("withheld")),
    ("Anonymous", Class("withheld")),
    ("withheld", Class("withheld")),
    ("private", Class("withheld")),
    ("restricted", Class("withheld")),
    ("unavailable", Class("withheld")),
    ("0400 000 0000", Class("invalid")),
    ("0600 000 0000", Class("invalid")),
    ("5004", NotANumber),
    ("8000", NotANumber),
    ("service", NotANumber),
    ("OCS_Comm", NotANumber),
    ("123", NotANumber),
    ("", NotANumber),
];

#[test]
fn every_number_gets_its_place_or_class() {
    assert!(TABLE.len() >= 200, "the issue asks for at least 200 numbers");
    let dialling = Dialling { outside_line: "9".into() };
    let tag = Geotag::new(dialling.clone(), Vec::new());
    let mut wrong = Vec::new();
    for (text, want) in TABLE {
        let got = parse(text, &dialling);
        let ok = match (want, &got) {
            (Geo(place, e164), Some(p)) => {
                p.class.as_str() == "geographic"
                    && p.e164_digits() == *e164
                    && tag.place_of(p).map(|(_, pl)| pl.name()) == Some(*place)
            }
            (Class(c), Some(p)) => p.class.as_str() == *c && tag.place_of(p).is_none(),
            (NotANumber, None) => true,
            _ => false,
        };
        if !ok {
            let place = got.as_ref().and_then(|p| tag.place_of(p)).map(|(_, pl)| pl.name().to_string());
            wrong.push(format!("{text:?}: got {got:?} {place:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} wrong:\n{}", wrong.len(), TABLE.len(), wrong.join("\n"));
}

#[test]
fn same_named_places_are_the_ones_the_code_serves() {
    let dialling = Dialling::default();
    let tag = Geotag::new(dialling.clone(), Vec::new());
    // (number, a point inside the exchange's county, km it must be within)
    for (n, lat, lon) in [
        ("01697 72000", 54.94, -2.73),  // Brampton, Cumbria (not Cambridgeshire)
        ("019467 25000", 54.42, -3.43), // Gosforth, Cumbria (not Newcastle)
        ("01748 820000", 54.40, -1.74), // Richmond, North Yorkshire (not London)
        ("01848 330000", 55.23, -3.77), // Thornhill, Dumfriesshire (not Cardiff)
        ("01948 660000", 52.97, -2.68), // Whitchurch, Shropshire (not Cardiff)
        ("01544 230000", 52.20, -3.03), // Kington, Herefordshire
    ] {
        let p = parse(n, &dialling).unwrap_or_else(|| panic!("{n}"));
        let (_, place) = tag.place_of(&p).unwrap_or_else(|| panic!("{n}: no place"));
        let km = distance_km(place.lat, place.lon, lat, lon);
        assert!(km < 15.0, "{n}: {} is {km:.0} km from where the code is", place.name());
    }
}

fn distance_km(a_lat: f64, a_lon: f64, b_lat: f64, b_lon: f64) -> f64 {
    let (p1, p2) = (a_lat.to_radians(), b_lat.to_radians());
    let dp = p2 - p1;
    let dl = (b_lon - a_lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * h.sqrt().asin()
}
