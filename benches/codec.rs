//! Codec throughput: decoding a single-part and a multipart PDU, encoding a
//! 3-part message (GSM 7-bit and UCS-2), splitting, and the CLI's JSON.
//!
//! Run: `cargo bench --bench codec`. Figures are in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use simgate::codec::{decode, encode_deliver, encode_submit, plan, DeliverOptions, SubmitOptions};

/// ModemManager's test_pdu1: 110 GSM 7-bit characters with extension
/// characters, international sender, SMSC.
const SINGLE_PART: &str = "07912104442961F4040B916171957291F800001120821105050A6AC8B2BC7C9A83C220F6DB7D2ECB41EDF27C1E3E97411BDE06754FD3D1A0F9BB5D0695F1F4B29B5C2683C6E8B03C3CA697E5F34D6AE303D1D1F2F7DD0D4ABB59A0797D8C0685E7A00028EC26832A960B28EC2683BE6050780EBA97D96C17";

/// ModemManager's test_multipart, part 1 of 2: 153 septets after an 8-bit
/// concatenation header.
const MULTIPART_PART: &str = "07912160130320F5440B916171056429F5000021405291650569A00500034C0201A9E8F41C949E83C2207B599E07B1DFEE33885E9ED341E4F23C7D7697C920FA1B54C697E5E3F4BC0C6AD7D9F434081E96D341E3303C2C4EB3D3F4BC0B94A483E6E8779D4D06CDD1EF3BA80E0785E7A0B7BB0C6A97E7F3F0B9CC02B9DF7450780EA2DFDF2C50780EA2A3CBA0BA9B5C96B3F369F71954768FDFE4B4FB0C9297E1F2F2BCECA6CF41";

/// A UCS-2 part with a concatenation header (Megafon, 67 characters).
const UCS2_PART: &str = "07919762020033F1400DD0CDF2396C7EBB010008415072411084618C0500035602010053004D005300200063006F00640065003A00200034003800350036002C00200063006F006E006600690072006D006100740069006F006E0020006F00660020006100730073006F00630069006100740069006F006E0020006200650074007700650065006E0020006100630063006F0075006E007400200061006E00640020004D00650067";

fn lorem(len: usize) -> String {
    "Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod tempor. "
        .chars()
        .cycle()
        .take(len)
        .collect()
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, pdu) in [
        ("single_part_gsm7", SINGLE_PART),
        ("multipart_part_gsm7", MULTIPART_PART),
        ("multipart_part_ucs2", UCS2_PART),
    ] {
        group.throughput(Throughput::Bytes((pdu.len() / 2) as u64));
        group.bench_function(name, |b| {
            b.iter(|| decode(black_box(pdu), true).expect("valid vector"))
        });
    }
    group.bench_function("json_single_part", |b| {
        b.iter(|| simgate::cli::pdu::decode_to_json(black_box(SINGLE_PART), false).expect("valid"))
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let gsm7_text = lorem(440); // 3 parts of <= 153 septets
    let ucs2_text: String = "Привет, как дела? ".chars().cycle().take(190).collect(); // 3 parts of <= 67
    assert_eq!(plan(&gsm7_text).parts.len(), 3);
    assert_eq!(plan(&ucs2_text).parts.len(), 3);
    let opts = SubmitOptions {
        status_report: true,
        validity_minutes: Some(24 * 60),
        concat_ref: 42,
        ..SubmitOptions::default()
    };
    let mut group = c.benchmark_group("encode");
    group.bench_function("submit_3_parts_gsm7", |b| {
        b.iter(|| {
            encode_submit(black_box("+15551234567"), black_box(&gsm7_text), &opts).expect("valid")
        })
    });
    group.bench_function("submit_3_parts_ucs2", |b| {
        b.iter(|| {
            encode_submit(black_box("+15551234567"), black_box(&ucs2_text), &opts).expect("valid")
        })
    });
    let ts = simgate::codec::Timestamp {
        year: 2025,
        month: 4,
        day: 17,
        hour: 13,
        minute: 40,
        second: 37,
        offset_minutes: -420,
    };
    group.bench_function("deliver_3_parts_gsm7", |b| {
        b.iter(|| {
            encode_deliver(
                black_box("+15558675309"),
                black_box(&gsm7_text),
                &ts,
                &DeliverOptions::default(),
            )
        })
    });
    group.bench_function("plan_3_parts_gsm7", |b| {
        b.iter(|| plan(black_box(&gsm7_text)))
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
