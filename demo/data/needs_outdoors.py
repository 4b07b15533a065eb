"""Shopper needs outdoors and on the road: camping, fitness, garden and car (see `schema.need`)."""
from .schema import need

NEEDS = [
    need("first_camping_trip", [
        "knowledge: what to pack for our first night sleeping under the stars",
        "qa: what gear do beginners need to spend a weekend in the woods",
    ], wants="camping_tent sleeping_bag sleeping_pad headlamp camp_stove camping_chair:2 cooler:2 lantern:2"),
    need("half_marathon", [
        "knowledge: training for my first half marathon",
        "multi_intent: track my pace and stay hydrated on 10 mile jogs",
    ], wants="fitness_tracker hydration_belt running_socks foam_roller:2 massage_gun:2"),
    need("small_home_gym", [
        "knowledge: work out at home in a tiny apartment",
        "alternative: cheaper alternative to a gym membership for getting stronger",
    ], wants="resistance_bands adjustable_dumbbells yoga_mat pull_up_bar jump_rope:2"),
    need("sore_muscles", [
        "knowledge: legs are sore and tight after leg day",
        "qa: what helps recovery after a long hike",
    ], wants="foam_roller massage_gun"),
    need("family_beach_day", [
        "multi_intent: beach day with the kids, shade and sun protection",
        "multi_intent: seaside trip with little ones, keep them cool and entertained",
    ], wants="sun_shelter kids_sunscreen sand_toys kids_sun_hat cooler:2"),
    need("bike_commute", [
        "knowledge: starting to cycle to the office, what do I need to be safe",
        "qa: what gear is legally required to ride a bicycle at night",
    ], wants="bike_lights bike_helmet bike_lock reflective_vest rain_jacket:2"),
    need("garden_pests", [
        "knowledge: deer keep eating my vegetable garden",
        "qa: how do I stop rabbits nibbling my lettuce",
        "knowledge: protect tomato plants from hungry wildlife",
    ], wants="deer_netting animal_repellent raised_bed:2", wrong="bird_seed bird_feeder"),
    need("seed_starting", [
        "knowledge: starting vegetables from seed on a windowsill",
        "qa: how do I get tomato plants going indoors in march",
    ], wants="seed_tray grow_light potting_mix seedling_heat_mat herb_kit:2"),
    need("balcony_herbs", [
        "knowledge: grow herbs on a small apartment balcony",
        "qa: can I grow basil and mint on a city terrace",
    ], wants="railing_planter self_watering_pot herb_kit potting_mix:2"),
    need("home_composting", [
        "knowledge: turn banana peels and coffee grounds into soil for the garden",
        "qa: what do I need to recycle food waste at home",
    ], wants="compost_bin compost_tumbler compostable_bags:2", wrong="trash_can"),
    need("plants_while_away", [
        "knowledge: keep my plants alive while I'm on vacation for two weeks",
        "qa: how do I water the garden automatically when I'm away",
    ], wants="watering_globes drip_irrigation self_watering_pot hose_timer"),
    need("patio_mosquitoes", [
        "knowledge: mosquitoes ruin our evenings on the patio",
        "qa: how to keep biting insects away from a backyard party",
    ], wants="citronella_candle bug_zapper"),
    need("attract_songbirds", [
        "knowledge: attract more songbirds to my yard",
        "qa: how do I get cardinals and finches to visit",
    ], wants="bird_feeder bird_bath bird_seed"),
    need("winter_car_kit", [
        "knowledge: what to keep in my car for winter emergencies",
        "qa: stranded in a snowstorm, what should be in the trunk",
    ], wants="ice_scraper jumper_cables emergency_blanket jump_starter tow_strap:2 flashlight:2"),
    need("dog_in_car", [
        "knowledge: keep the back seat clean when I drive with my dog",
        "qa: safest way for a golden retriever to ride in an suv",
    ], wants="pet_seat_cover dog_car_harness car_vacuum:2"),
    need("car_smell", [
        "knowledge: my car smells like old fries and wet dog",
        "qa: how do I get rid of a lingering stink in a used car",
    ], wants="odor_eliminator car_air_freshener car_vacuum car_trash_can:2"),
    need("phone_while_driving", [
        "knowledge: use my phone for directions while driving hands free",
        "qa: how can I follow maps on a road trip and keep my battery full",
    ], wants="phone_mount car_charger power_bank:2"),
    need("flat_tire", [
        "knowledge: be prepared for a flat on the highway",
        "qa: what should I carry in case of a puncture on a road trip",
    ], wants="tire_inflator tire_plug_kit tire_gauge warning_triangles"),
]
